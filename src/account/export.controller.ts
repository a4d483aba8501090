import { Controller, Get, StreamableFile } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Client, ClientContext } from '../common/client-context';
import { ApiErrorResponse, Endpoint, RATE_LIMITED } from '../common/openapi';
import { NoStore } from '../common/route-flags';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { AccountExport } from './account-export';
import { AccountExportView } from './export.view';

@ApiTags('me')
@Controller('me')
export class ExportController {
  constructor(private readonly exports: AccountExport) {}

  @Get('export')
  @Auth()
  @NoStore()
  @Endpoint(
    'Download my data: one JSON document of everything latchkey holds about me (needs aal2 once the account has a second factor; EXPORT_RATE_LIMIT per account)',
  )
  @ApiProduces('application/json')
  @ApiOkResponse({
    type: AccountExportView,
    description:
      'Streamed as an attachment (Content-Disposition), never cached. A document cut off by a failure mid-stream ends unclosed, never as valid JSON.',
  })
  @ApiErrorResponse(
    401,
    'insufficient_user_authentication: the account has a second factor and this session has not proved it (step up, then retry); invalid_token: the access token is missing, invalid, expired or revoked',
  )
  @RATE_LIMITED()
  async export(@CurrentPrincipal() principal: Principal, @Client() client: ClientContext): Promise<StreamableFile> {
    const { filename, body } = await this.exports.open(principal, client);
    return new StreamableFile(body, { type: 'application/json; charset=utf-8', disposition: `attachment; filename="${filename}"` });
  }
}
