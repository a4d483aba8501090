import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { join } from 'node:path';
import { StaticAssetsController } from '../common/static-assets';

/**
 * The pages mailed links open (API.md: /account/reset-password, /account/verify-email,
 * /account/report, /account/confirm-email, and /account/revert-email for an e-mail change's notice), and /account/security, where a signed-in user manages second factors. Plain HTML with one bundled script under the strict CSP; the token stays in
 * the URL fragment, which browsers never send, so it reaches no server or proxy log.
 */
@ApiExcludeController()
@Controller('account')
export class AccountPagesController extends StaticAssetsController {
  protected readonly root = join(__dirname, 'pages', 'static');

  /** One page for the mailed links; its script reads which one from the path. */
  @Get(['reset-password', 'verify-email', 'report', 'confirm-email', 'revert-email'])
  page(@Res() reply: FastifyReply): void {
    this.assets.send(reply, 'page.html');
  }

  /** Second factors and recovery codes; everything on it comes from the /me API, with the user's own tokens. */
  @Get('security')
  security(@Res() reply: FastifyReply): void {
    this.assets.send(reply, 'security.html');
  }
}
