import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiProduces,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import { Client, ClientContext, HangUp } from '../common/client-context';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { ClearsRefreshCookie, IssuesTokens, OAuthEndpoint } from '../common/route-flags';
import { AuthRateLimit } from '../rate-limit/rate-limit.module';
import { UserView } from '../users/user.view';
import { AuthService, TokenResponse } from './auth.service';
import { Auth, CurrentPrincipal } from './auth.guard';
import { LoginDto, LogoutQuery, MfaRequiredView, MfaVerifyDto, TokenResponseView } from './dto';
import { TrustedDeviceCookie } from './trusted-device-cookie';
import type { MfaRequiredAnswer } from '../mfa/mfa.service';
import type { Principal } from './jwt.strategy';
import { readOAuthParams } from '../common/oauth-request';
import { RefreshCookie } from './refresh-cookie';
import { DpopProof, ProofRequest } from './dpop.service';
import { SessionEvents } from './session-events';
import { LoginAnswer, SignedInAnswer } from './login-answer';

class LoginResponse extends TokenResponseView {
  @ApiProperty({ type: UserView }) user: UserView;
  @ApiPropertyOptional({
    description: 'After a second step with trustDevice: true (not in cookie mode, where it is a cookie): send it with the next logins of this deviceId.',
  })
  trustedDevice?: string;
}

const LOGIN_ANSWER = { schema: { oneOf: [{ $ref: getSchemaPath(LoginResponse) }, { $ref: getSchemaPath(MfaRequiredView) }] } };

@ApiTags('auth')
@ApiExtraModels(LoginResponse, MfaRequiredView)
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookie: RefreshCookie,
    private readonly events: SessionEvents,
    private readonly trustedCookie: TrustedDeviceCookie,
    private readonly loginAnswer: LoginAnswer,
  ) {}

  @Post('login')
  @HttpCode(200)
  @Endpoint('Sign in one device: a token pair for a new session')
  @IssuesTokens({ hashesPassword: true })
  @AuthRateLimit()
  @ApiOkResponse({
    ...LOGIN_ANSWER,
    description:
      'A token response and the user; or, for an account with a second factor, `mfaRequired` and the mfaToken for POST /auth/mfa/verify (no session yet).',
  })
  @ApiErrorResponse(401, 'invalid_credentials: unknown e-mail or wrong password (the same answer for both)')
  @ApiErrorResponse(403, 'account_disabled, or forbidden: a password reset is required after "this wasn\'t me" (only after a correct password)')
  @ApiErrorResponse(400, 'invalid_dpop_proof: the DPoP header is not a valid proof for this request, or DPOP=required and there is none')
  async login(
    @Body() dto: LoginDto,
    @Client() client: ClientContext,
    @DpopProof() proof: ProofRequest,
    @HangUp() hangUp: AbortSignal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SignedInAnswer | MfaRequiredAnswer> {
    const outcome = await this.auth.login(
      { ...dto, refreshCookie: this.cookie.read(request), trustedDevice: dto.trustedDevice ?? this.trustedCookie.read(request) },
      client,
      proof,
      hangUp,
    );
    if ('mfa' in outcome) return outcome.mfa;
    return this.loginAnswer.respond(reply, outcome, dto.useCookie === true);
  }

  @Post('mfa/verify')
  @HttpCode(200)
  @Endpoint("A login's second step: the mfaToken and a second factor; answers as a login does")
  @IssuesTokens()
  @AuthRateLimit()
  @ApiOkResponse({ type: LoginResponse, description: 'The token response (or cookie, as the login asked) and the user, as a login answers.' })
  @ApiErrorResponse(401, 'invalid_mfa_token: unknown, used or expired (sign in again); invalid_credentials: wrong code or assertion (5 and the mfaToken dies)')
  @ApiErrorResponse(403, 'account_disabled')
  @ApiErrorResponse(400, 'invalid_dpop_proof: the login was DPoP-bound and this request has no proof by the same key')
  async verifyMfa(
    @Body() dto: MfaVerifyDto,
    @Client() client: ClientContext,
    @DpopProof() proof: ProofRequest,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SignedInAnswer> {
    const done = await this.auth.completeMfa({ ...dto, refreshCookie: this.cookie.read(request) }, client, proof);
    return this.loginAnswer.respond(reply, done, done.useCookie);
  }

  @Post('token')
  @HttpCode(200)
  @Endpoint('Refresh: exchange a refresh token for a new pair (RFC 6749 §6)')
  @OAuthEndpoint('invalid_request, invalid_grant, unsupported_grant_type')
  @ApiBody({ schema: { type: 'object', required: ['grant_type'], properties: { grant_type: { enum: ['refresh_token'] }, refresh_token: { type: 'string' } } } })
  @ApiOkResponse({ type: TokenResponseView })
  @ApiErrorResponse(403, 'forbidden: cookie mode without the X-Latchkey-CSRF: 1 header')
  @ApiErrorResponse(400, 'invalid_dpop_proof: an invalid or replayed proof, or a DPoP-bound session without a proof by its key (nothing is consumed)')
  async token(
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Client() client: ClientContext,
    @DpopProof() proof: ProofRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TokenResponse> {
    const params = readOAuthParams(body, ['grant_type', 'refresh_token']);
    if (!params.grant_type) throw ApiError.oauth('invalid_request', 'grant_type is required.');
    if (params.grant_type !== 'refresh_token') throw ApiError.oauth('unsupported_grant_type', 'Only the refresh_token grant is supported.');
    const fromCookie = params.refresh_token === undefined ? this.cookie.fromBrowser(request) : undefined;
    const refreshToken = params.refresh_token ?? fromCookie;
    if (!refreshToken) throw ApiError.oauth('invalid_request', 'refresh_token is required.');
    try {
      return this.cookie.respond(reply, await this.auth.refresh(refreshToken, client, proof), fromCookie !== undefined);
    } catch (error) {
      if (fromCookie && error instanceof ApiError && error.code === 'invalid_grant') this.cookie.clear(reply);
      throw error;
    }
  }

  @Post('revoke')
  @HttpCode(200)
  @Endpoint("Revoke a refresh token and its session (RFC 7009); in cookie mode, the cookie's, with X-Latchkey-CSRF: 1")
  @OAuthEndpoint('invalid_request', { clearsRefreshCookie: true })
  @ApiBody({ schema: { type: 'object', properties: { token: { type: 'string' }, token_type_hint: { type: 'string' } } } })
  @ApiOkResponse({
    description:
      'Always 200 (RFC 7009), also for unknown tokens. With X-Latchkey-CSRF: 1, every answer clears the refresh cookie; without it (a request another site could make), none does.',
  })
  @ApiErrorResponse(403, 'forbidden: the refresh cookie without the X-Latchkey-CSRF: 1 header')
  async revoke(@Body() body: unknown, @Req() request: FastifyRequest, @Client() client: ClientContext, @DpopProof() proof: ProofRequest): Promise<void> {
    const params = readOAuthParams(body, ['token', 'token_type_hint']);
    const token = params.token ?? this.cookie.fromBrowser(request);
    if (!token) throw ApiError.oauth('invalid_request', 'token is required (or the refresh cookie with X-Latchkey-CSRF: 1).');
    await this.auth.revokeRefreshToken(token, client, proof);
  }

  @Get('session')
  @Auth({ duringEnrollment: true })
  @Endpoint("The presented access token's verified claims, checked against revocation; no database read", { database: false })
  @ApiOkResponse({ description: '{userId, sessionId, role, acr, amr, authTime}' })
  session(@CurrentPrincipal() principal: Principal): {
    userId: string;
    sessionId: string;
    role: string;
    acr: string;
    amr: readonly string[];
    authTime: string;
  } {
    return {
      userId: principal.userId,
      sessionId: principal.sessionId,
      role: principal.role,
      acr: principal.acr,
      amr: principal.amr,
      authTime: new Date(principal.authTime).toISOString(),
    };
  }

  @Get('session/events')
  @Auth({ duringEnrollment: true })
  @Endpoint(
    'Server-Sent Events about this session: `revoked` the moment it is revoked anywhere, `expired` when the access token that opened the stream expires (reopen it with the next one)',
    { database: false },
  )
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'text/event-stream: comments as heartbeats, then one event, `revoked` or `expired`, and the end of the stream.' })
  sessionEvents(@CurrentPrincipal() principal: Principal, @Res() reply: FastifyReply): void {
    this.events.stream(principal, reply);
  }

  @Post('logout')
  @HttpCode(204)
  @Auth({ orRefreshCookie: true, duringEnrollment: true })
  @ClearsRefreshCookie()
  @Endpoint('Sign out this device (local), every other device (others) or all of them (global); a browser may use its refresh cookie for local')
  @ApiNoContentResponse({
    description:
      'Signed out. Every answer to a request with an access token or X-Latchkey-CSRF: 1 clears the refresh cookie; one another site could make (neither) never does.',
  })
  @ApiErrorResponse(403, 'forbidden: the refresh cookie without the X-Latchkey-CSRF: 1 header')
  async logout(
    @Query() query: LogoutQuery,
    @CurrentPrincipal() principal: Principal | undefined,
    @Req() request: FastifyRequest,
    @Client() client: ClientContext,
    @DpopProof() proof: ProofRequest,
  ): Promise<void> {
    const scope = query.scope ?? 'local';
    if (principal) return this.auth.logout(principal, scope, client);
    // Entered with the refresh cookie (the guard checked the CSRF header): this device only.
    if (scope !== 'local') throw ApiError.invalidToken(false, 'Signing out other devices needs an access token.');
    await this.auth.revokeRefreshToken(this.cookie.read(request)!, client, proof);
  }
}
