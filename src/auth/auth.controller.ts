import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiConsumes, ApiForbiddenResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import { Client, ClientContext } from '../common/client-context';
import { toUserView, UserView } from '../users/user.view';
import { AuthService, TokenResponse } from './auth.service';
import { Auth, CurrentPrincipal } from './auth.guard';
import { LoginDto, LogoutQuery, TokenResponseView } from './dto';
import type { Principal } from './jwt.strategy';
import { readOAuthParams } from './oauth-request';
import { AuthRateLimit } from './rate-limit';
import { RefreshCookie } from './refresh-cookie';

class LoginResponse extends TokenResponseView {
  @ApiProperty({ type: UserView }) user: UserView;
}

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookie: RefreshCookie,
  ) {}

  @Post('login')
  @HttpCode(200)
  @AuthRateLimit()
  @ApiOkResponse({ type: LoginResponse })
  @ApiUnauthorizedResponse({ description: 'invalid_credentials' })
  @ApiForbiddenResponse({ description: 'account_disabled' })
  async login(@Body() dto: LoginDto, @Client() client: ClientContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenResponse & { user: UserView }> {
    const { tokens, user } = await this.auth.login(dto, client);
    return { ...this.cookie.respond(reply, tokens, dto.useCookie === true), user: toUserView(user) };
  }

  @Post('token')
  @HttpCode(200)
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiBody({ schema: { type: 'object', required: ['grant_type'], properties: { grant_type: { enum: ['refresh_token'] }, refresh_token: { type: 'string' } } } })
  @ApiOkResponse({ type: TokenResponseView })
  @ApiBadRequestResponse({ description: 'invalid_request, invalid_grant, unsupported_grant_type (RFC 6749 §5.2)' })
  @ApiForbiddenResponse({ description: 'forbidden: cookie mode without the X-Latchkey-CSRF: 1 header' })
  async token(@Body() body: unknown, @Req() request: FastifyRequest, @Client() client: ClientContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenResponse> {
    // Success is shaped (and marked no-store) by RefreshCookie.respond; errors by the exception filter.
    const params = readOAuthParams(body, ['grant_type', 'refresh_token']);
    if (!params.grant_type) throw ApiError.oauth('invalid_request', 'grant_type is required.');
    if (params.grant_type !== 'refresh_token') throw ApiError.oauth('unsupported_grant_type', 'Only the refresh_token grant is supported.');
    const fromCookie = !params.refresh_token ? this.cookie.read(request) : undefined;
    const refreshToken = params.refresh_token ?? fromCookie;
    if (!refreshToken) throw ApiError.oauth('invalid_request', 'refresh_token is required.');
    // Checked before the token is looked at, so a cross-site request consumes nothing.
    if (fromCookie && !this.cookie.hasCsrfHeader(request)) throw ApiError.forbidden('Cookie refreshes need the X-Latchkey-CSRF: 1 header.');
    try {
      return this.cookie.respond(reply, await this.auth.refresh(refreshToken, client), fromCookie !== undefined);
    } catch (error) {
      if (fromCookie && error instanceof ApiError && error.code === 'invalid_grant') this.cookie.clear(reply);
      throw error;
    }
  }

  @Post('revoke')
  @HttpCode(200)
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiBody({ schema: { type: 'object', required: ['token'], properties: { token: { type: 'string' }, token_type_hint: { type: 'string' } } } })
  @ApiOkResponse({ description: 'Always 200 (RFC 7009), also for unknown tokens.' })
  async revoke(@Body() body: unknown, @Client() client: ClientContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const params = readOAuthParams(body, ['token', 'token_type_hint']);
    if (!params.token) throw ApiError.oauth('invalid_request', 'token is required.');
    await this.auth.revokeRefreshToken(params.token, client);
  }

  /** What the access token says, verified and checked against revocation, with no database read. */
  @Get('session')
  @Auth()
  @ApiOkResponse({ description: '{userId, sessionId, role}: the verified claims of the presented access token.' })
  session(@CurrentPrincipal() principal: Principal): { userId: string; sessionId: string; role: string } {
    return { userId: principal.userId, sessionId: principal.sessionId, role: principal.role };
  }

  @Post('logout')
  @HttpCode(204)
  @Auth()
  @ApiNoContentResponse({ description: 'Signed out; the refresh cookie, if any, is cleared.' })
  async logout(@Query() query: LogoutQuery, @CurrentPrincipal() principal: Principal, @Client() client: ClientContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    await this.auth.logout(principal, query.scope ?? 'local', client);
    this.cookie.clear(reply);
  }
}
