import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { join } from 'node:path';
import { StaticAssetsController } from '../common/static-assets';

/**
 * The admin dashboard: one HTML page and its scripts and styles, from
 * dist/src/admin/dashboard/static (built by scripts/build-if-needed.mjs). The page is public;
 * everything it shows comes from the admin API with the admin's own tokens.
 */
@ApiExcludeController()
@Controller('admin')
export class DashboardController extends StaticAssetsController {
  protected readonly root = join(__dirname, 'dashboard', 'static');

  @Get()
  page(@Res() reply: FastifyReply): void {
    this.assets.send(reply, 'index.html');
  }
}
