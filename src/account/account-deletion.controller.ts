import { Body, Controller, Delete, HttpCode } from '@nestjs/common';
import { ApiAcceptedResponse, ApiTags } from '@nestjs/swagger';
import { Client, ClientContext } from '../common/client-context';
import { ApiErrorResponse, Endpoint, RATE_LIMITED } from '../common/openapi';
import { HashesPassword } from '../common/route-flags';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { AccountDeletion } from './account-deletion';
import { DeleteAccountDto } from './account-deletion.dto';

@ApiTags('me')
@Controller('me')
export class AccountDeletionController {
  constructor(private readonly deletion: AccountDeletion) {}

  @Delete()
  @HttpCode(202)
  @Auth()
  @HashesPassword()
  @Endpoint(
    'Delete my account: every device signed out, factors, links and pending mail gone, the security log stripped of my e-mail, IPs and browsers; a mail confirms it',
  )
  @ApiAcceptedResponse({ description: '{}: the account is gone; the confirmation mail is on its way.' })
  @ApiErrorResponse(
    401,
    'invalid_credentials: the password is wrong; insufficient_user_authentication: the account has a second factor and this session is not aal2, or no password was sent and the last authentication is older than REAUTH_MAX_AGE (step up, then retry); invalid_token: see above',
  )
  @ApiErrorResponse(403, 'forbidden: the last administrator cannot be deleted; a "this wasn\'t me" report owes a reset first')
  @RATE_LIMITED()
  async deleteMe(@Body() dto: DeleteAccountDto, @CurrentPrincipal() principal: Principal, @Client() client: ClientContext): Promise<Record<string, never>> {
    await this.deletion.deleteOwn(principal, dto.password, client);
    return {};
  }
}
