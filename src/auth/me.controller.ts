import { applyDecorators, Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Res } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiError } from '../common/api-error';
import { Client, ClientContext } from '../common/client-context';
import { IdPipe } from '../common/id.pipe';
import { ApiErrorResponse, Endpoint, RATE_LIMITED } from '../common/openapi';
import { IssuesTokens } from '../common/route-flags';
import { UsersService } from '../users/users.service';
import { toUserView, UserView } from '../users/user.view';
import { SessionsService } from '../sessions/sessions.service';
import { SessionList, toSessionView } from '../sessions/session.view';
import { AuthService, TokenResponse } from './auth.service';
import { Auth, AuthOptionsFor, CurrentPrincipal } from './auth.guard';
import { ChangePasswordDto, TokenResponseView } from './dto';
import type { Principal } from './jwt.strategy';
import { RefreshCookie } from './refresh-cookie';

/** The contract of a password change, which both of its routes (PUT, and POST for v1 clients) keep. */
function PasswordChange(summary: string): MethodDecorator {
  return applyDecorators(
    HttpCode(200),
    Endpoint(summary),
    IssuesTokens({ hashesPassword: true }),
    ApiErrorResponse(
      401,
      'invalid_credentials: the current password is wrong; insufficient_user_authentication: the account has a second factor and this session has not proved it (step up); invalid_token: see above',
    ),
    ApiErrorResponse(403, 'forbidden: a "this wasn\'t me" report owes a reset, which only the mailed link (or "forgot password") settles'),
    RATE_LIMITED(),
    ApiOkResponse({ type: TokenResponseView, description: 'A fresh token pair for this device; every other session is revoked.' }),
  );
}

@ApiTags('me')
@Controller('me')
@Auth()
export class MeController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly auth: AuthService,
    private readonly cookie: RefreshCookie,
  ) {}

  @Get()
  @AuthOptionsFor({ duringEnrollment: true })
  @Endpoint('The signed-in user')
  @ApiOkResponse({ type: UserView })
  async me(@CurrentPrincipal() principal: Principal): Promise<UserView> {
    const user = await this.users.findById(principal.userId);
    if (!user) throw ApiError.invalidToken(true);
    return toUserView(user);
  }

  @Put('password')
  @PasswordChange('Change the password (needs aal2 once the account has a second factor): every other device is signed out, this one gets a new pair')
  async putPassword(
    @Body() dto: ChangePasswordDto,
    @CurrentPrincipal() principal: Principal,
    @Client() client: ClientContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TokenResponse> {
    return this.changePassword(dto, principal, client, reply);
  }

  @Post('password')
  @PasswordChange('Change the password (as PUT /me/password; kept for v1 clients)')
  async changePassword(
    @Body() dto: ChangePasswordDto,
    @CurrentPrincipal() principal: Principal,
    @Client() client: ClientContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TokenResponse> {
    // The refresh cookie is scoped to /auth, so a browser cannot show it here: it says useCookie, as at login.
    return this.cookie.respond(reply, await this.auth.changePassword(principal, dto.currentPassword, dto.newPassword, client), dto.useCookie === true);
  }

  @Get('sessions')
  @AuthOptionsFor({ duringEnrollment: true })
  @Endpoint('My signed-in devices, newest use first; this one is marked current')
  @ApiOkResponse({ type: SessionList })
  async listSessions(@CurrentPrincipal() principal: Principal): Promise<SessionList> {
    const sessions = await this.sessions.listForUser(principal.userId);
    return { items: sessions.map((s) => toSessionView(s, principal.sessionId)) };
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  @AuthOptionsFor({ duringEnrollment: true })
  @Endpoint('Sign out one of my devices (and forget it as a trusted device)')
  @ApiNoContentResponse()
  @ApiErrorResponse(404, 'not_found: no such session of yours')
  async revokeSession(@Param('id', IdPipe) id: string, @CurrentPrincipal() principal: Principal, @Client() client: ClientContext): Promise<void> {
    await this.auth.revokeOwnSession(principal, id, client);
  }
}
