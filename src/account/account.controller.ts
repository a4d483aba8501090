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
import { ForgotPasswordDto, LinkTokenDto, ResetPasswordDto, UserResponse } from './dto';

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
