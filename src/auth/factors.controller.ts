import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Client, ClientContext } from '../common/client-context';
import { IdPipe } from '../common/id.pipe';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { IssuesTokens } from '../common/route-flags';
import { AuthRateLimit } from '../rate-limit/rate-limit.module';
import { FactorsService, FactorView } from '../mfa/factors.service';
import { MfaService } from '../mfa/mfa.service';
import type { SecondFactorMethodName } from '../mfa/second-factor-methods';
import { AuthService, TokenResponse } from './auth.service';
import { Auth, AuthOptionsFor, CurrentPrincipal } from './auth.guard';
import { FactorCodeDto, NewTotpDto, RenameFactorDto, StepUpDto, TokenResponseView } from './dto';
import type { Principal } from './jwt.strategy';
import { RefreshCookie } from './refresh-cookie';

const STEP_UP_NEEDED =
  'insufficient_user_authentication: the account has a factor and this session is not aal2, or its authentication is older than REAUTH_MAX_AGE (step up, then retry); invalid_token: see above';

/** The signed-in user's second factors, recovery codes and step-up (API.md, "Second factor and passkeys"). */
@ApiTags('me')
@Controller('me')
@Auth()
export class FactorsController {
  constructor(
    private readonly factors: FactorsService,
    private readonly mfa: MfaService,
    private readonly auth: AuthService,
    private readonly cookie: RefreshCookie,
  ) {}

  @Get('factors')
  @AuthOptionsFor({ duringEnrollment: true })
  @Endpoint('My second factors')
  @ApiOkResponse({ description: '{items: [{id, type, name, createdAt, lastUsedAt, active, locked, backedUp?}]}' })
  async list(@CurrentPrincipal() principal: Principal): Promise<{ items: FactorView[] }> {
    return { items: await this.factors.list(principal.userId) };
  }

  @Post('factors/totp')
  @AuthOptionsFor({ duringEnrollment: true })
  @IssuesTokens()
  @Endpoint('Start adding an authenticator app: a pending TOTP factor and its secret, shown once')
  @ApiCreatedResponse({ description: '{id, secret, otpauthUri}: show the URI as a QR code, then confirm with POST /me/factors/:id/verify.' })
  @ApiErrorResponse(401, STEP_UP_NEEDED)
  @ApiErrorResponse(409, 'factor_limit: the account has 10 factors already')
  addTotp(@Body() dto: NewTotpDto, @CurrentPrincipal() principal: Principal): Promise<{ id: string; secret: string; otpauthUri: string }> {
    return this.factors.addTotp(principal, dto.name);
  }

  @Post('factors/:id/verify')
  @HttpCode(200)
  @AuthOptionsFor({ duringEnrollment: true })
  @IssuesTokens()
  @Endpoint("Activate a pending authenticator with its current code; the account's first factor also returns its recovery codes")
  @ApiOkResponse({
    description:
      'The factor; with the first factor, `recoveryCodes` (shown once), this session becomes aal2 at its next refresh and every other session is signed out.',
  })
  @ApiErrorResponse(401, `invalid_credentials: the code is wrong or was used already; ${STEP_UP_NEEDED}`)
  @ApiErrorResponse(404, 'not_found: no pending authenticator of yours with this id')
  verifyTotp(
    @Param('id', IdPipe) id: string,
    @Body() dto: FactorCodeDto,
    @CurrentPrincipal() principal: Principal,
    @Client() client: ClientContext,
  ): Promise<FactorView & { recoveryCodes?: string[] }> {
    return this.factors.activateTotp(principal, id, dto.code, client);
  }

  @Patch('factors/:id')
  @Endpoint('Rename one of my factors')
  @ApiOkResponse({ description: 'The factor.' })
  @ApiErrorResponse(404, 'not_found: no such factor of yours')
  rename(@Param('id', IdPipe) id: string, @Body() dto: RenameFactorDto, @CurrentPrincipal() principal: Principal): Promise<FactorView> {
    return this.factors.rename(principal.userId, id, dto.name);
  }

  @Delete('factors/:id')
  @HttpCode(204)
  @Endpoint('Remove one of my factors (the last one: two-step sign-in is off, and I am told by mail)')
  @ApiNoContentResponse()
  @ApiErrorResponse(401, STEP_UP_NEEDED)
  @ApiErrorResponse(404, 'not_found: no such factor of yours')
  remove(@Param('id', IdPipe) id: string, @CurrentPrincipal() principal: Principal, @Client() client: ClientContext): Promise<void> {
    return this.factors.remove(principal, id, client);
  }

  @Get('recovery-codes')
  @Endpoint('How many of my recovery codes are left')
  @ApiOkResponse({ description: '{remaining}' })
  remaining(@CurrentPrincipal() principal: Principal): Promise<{ remaining: number }> {
    return this.factors.recoveryCodesLeft(principal.userId);
  }

  @Post('recovery-codes')
  @IssuesTokens()
  @Endpoint('A new set of recovery codes (the old set stops working), shown once')
  @ApiCreatedResponse({ description: '{recoveryCodes}' })
  @ApiErrorResponse(401, STEP_UP_NEEDED)
  @ApiErrorResponse(403, 'forbidden: the account has no second factor')
  regenerate(@CurrentPrincipal() principal: Principal): Promise<{ recoveryCodes: string[] }> {
    return this.factors.regenerateRecoveryCodes(principal);
  }

  @Post('step-up/options')
  @HttpCode(200)
  @AuthOptionsFor({ duringEnrollment: true })
  @Endpoint('What I can step up with (RFC 9470): my second-factor methods, or the password for an account without one')
  @ApiOkResponse({ description: '{methods, passkey?: {publicKey}}' })
  stepUpOptions(@CurrentPrincipal() principal: Principal): Promise<{ methods: Array<SecondFactorMethodName | 'password'>; passkey?: Record<string, unknown> }> {
    return this.mfa.stepUpOptions(principal);
  }

  @Post('step-up')
  @HttpCode(200)
  @AuthOptionsFor({ duringEnrollment: true })
  @IssuesTokens()
  @AuthRateLimit()
  @Endpoint('Step up (RFC 9470): authenticate again; a token response for this same session, on a new link of its chain')
  @ApiOkResponse({ type: TokenResponseView, description: 'Tokens carrying the raised acr, amr and auth_time; the previous refresh token cannot mint them.' })
  @ApiErrorResponse(401, 'invalid_credentials: wrong code, assertion or password; invalid_token: see above')
  async stepUp(
    @Body() dto: StepUpDto,
    @CurrentPrincipal() principal: Principal,
    @Client() client: ClientContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TokenResponse> {
    return this.cookie.respond(reply, await this.auth.stepUp(principal, dto, client), dto.useCookie === true);
  }
}
