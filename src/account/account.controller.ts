import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Client, ClientContext } from '../common/client-context';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { HashesPassword } from '../common/route-flags';
import { AuthRateLimit } from '../rate-limit/rate-limit.module';
import { toUserView } from '../users/user.view';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { AccountService } from './account.service';
import { ChangeEmailDto, EmailRevertResponse, ForgotPasswordDto, LinkTokenDto, ResetPasswordDto, UserResponse } from './dto';

const INVALID_LINK = () => ApiErrorResponse(400, 'invalid_link: the link is unknown, expired, used or superseded');

@ApiTags('account')
@Controller()
export class AccountController {
  constructor(private readonly account: AccountService) {}

  @Post('auth/password/forgot')
  @HttpCode(202)
  @Endpoint('Ask for a password-reset mail: the same answer, in the same time, for any address')
  @AuthRateLimit()
  @ApiAcceptedResponse({ description: 'Always {} (a known, enabled account gets a mail; at most 3 an hour).' })
  async forgot(@Body() dto: ForgotPasswordDto, @Client() client: ClientContext): Promise<Record<string, never>> {
    await this.account.forgotPassword(dto.email, client);
    return {};
  }

  @Post('auth/password/reset')
  @HttpCode(200)
  @Endpoint('Set a new password from a reset link: every session of the account is signed out')
  @HashesPassword()
  @AuthRateLimit()
  @ApiOkResponse({ type: UserResponse })
  @INVALID_LINK()
  @ApiErrorResponse(403, 'account_disabled')
  async reset(@Body() dto: ResetPasswordDto, @Client() client: ClientContext): Promise<UserResponse> {
    return { user: toUserView(await this.account.resetPassword(dto.token, dto.newPassword, client)) };
  }

  @Post('auth/email/verify')
  @HttpCode(200)
  @Endpoint('Confirm the e-mail address from a verification link')
  @AuthRateLimit()
  @ApiOkResponse({ type: UserResponse })
  @INVALID_LINK()
  async verify(@Body() dto: LinkTokenDto, @Client() client: ClientContext): Promise<UserResponse> {
    return { user: toUserView(await this.account.verifyEmail(dto.token, client)) };
  }

  @Post('me/email/verification')
  @HttpCode(202)
  @Auth()
  @Endpoint('Send the signed-in user a new verification mail (nothing if the address is verified)')
  @ApiAcceptedResponse({ description: '{}' })
  async resendVerification(@CurrentPrincipal() principal: Principal, @Client() client: ClientContext): Promise<Record<string, never>> {
    await this.account.resendVerification(principal, client);
    return {};
  }

  @Post('me/email')
  @HttpCode(202)
  @Auth()
  @HashesPassword()
  @AuthRateLimit()
  @Endpoint(
    'Ask to move the account to a new e-mail address: the same answer whether or not that address has an account; nothing changes until the link mailed there is used',
  )
  @ApiAcceptedResponse({
    description: '{}: the new address gets a confirmation link (or, if it already has an account, word of that); the account is unchanged.',
  })
  @ApiErrorResponse(
    401,
    'invalid_credentials: the password is wrong; insufficient_user_authentication: the account has a second factor and this session has not proved it (step up); invalid_token: see above',
  )
  @ApiErrorResponse(403, 'forbidden: a "this wasn\'t me" report owes a reset, which only the mailed link (or "forgot password") settles')
  async changeEmail(@Body() dto: ChangeEmailDto, @CurrentPrincipal() principal: Principal, @Client() client: ClientContext): Promise<Record<string, never>> {
    await this.account.requestEmailChange(principal, dto.newEmail, dto.password, client);
    return {};
  }

  @Post('auth/email/confirm')
  @HttpCode(200)
  @Endpoint('Confirm an e-mail change from the link mailed to the new address')
  @AuthRateLimit()
  @ApiOkResponse({ type: UserResponse })
  @INVALID_LINK()
  @ApiErrorResponse(403, 'account_disabled')
  @ApiErrorResponse(409, 'email_taken: another account took the address since the link was mailed; nothing changed')
  async confirmEmail(@Body() dto: LinkTokenDto, @Client() client: ClientContext): Promise<UserResponse> {
    return { user: toUserView(await this.account.confirmEmailChange(dto.token, client)) };
  }

  @Post('auth/email/revert')
  @HttpCode(200)
  @Endpoint('"This wasn\'t me", from the notice of an e-mail change: moves the account back, signs out every session, and mails a reset link')
  @AuthRateLimit()
  @ApiOkResponse({ type: EmailRevertResponse })
  @INVALID_LINK()
  async revertEmail(@Body() dto: LinkTokenDto, @Client() client: ClientContext): Promise<EmailRevertResponse> {
    return this.account.revertEmailChange(dto.token, client);
  }

  @Post('auth/sessions/report')
  @HttpCode(200)
  @Endpoint('"This wasn\'t me", from a new-device alert: signs that session out and mails a reset link')
  @AuthRateLimit()
  @ApiOkResponse({ description: '{}' })
  @INVALID_LINK()
  async report(@Body() dto: LinkTokenDto, @Client() client: ClientContext): Promise<Record<string, never>> {
    await this.account.reportSession(dto.token, client);
    return {};
  }
}
