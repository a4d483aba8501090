import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Client, ClientContext } from '../common/client-context';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { IssuesTokens } from '../common/route-flags';
import { AuthRateLimit } from '../rate-limit/rate-limit.module';
import { FactorsService, FactorView } from '../mfa/factors.service';
import { PasskeyMethod } from '../mfa/passkeys';
import { AddPasskeyDto } from '../mfa/passkey.dto';
import { PasskeyLoginDto } from './dto';
import { AuthService } from './auth.service';
import { Auth, CurrentPrincipal } from './auth.guard';
import type { Principal } from './jwt.strategy';
import { RefreshCookie } from './refresh-cookie';
import { DpopProof, ProofRequest } from './dpop.service';
import { LoginAnswer, SignedInAnswer } from './login-answer';

const OPTIONS = {
  description:
    '`{publicKey}`: the options for navigator.credentials (JSON, base64url; PublicKeyCredential.parse…OptionsFromJSON reads them). Their challenge is kept server-side for 5 minutes and works once.',
};

/**
 * Passkeys (WebAuthn): registering one as a factor, and signing in with one alone. Using one as
 * a login's second step or a step-up goes through /auth/mfa/verify and /me/step-up like any
 * other method.
 */
@ApiTags('passkeys')
@Controller()
export class PasskeysController {
  constructor(
    private readonly auth: AuthService,
    private readonly factors: FactorsService,
    private readonly passkeys: PasskeyMethod,
    private readonly cookie: RefreshCookie,
    private readonly loginAnswer: LoginAnswer,
  ) {}

  @Post('me/factors/passkey/options')
  @HttpCode(200)
  @Auth({ duringEnrollment: true })
  @Endpoint('Options to register a passkey (resident key, user verification required), bound to this session')
  @ApiOkResponse(OPTIONS)
  @ApiErrorResponse(401, 'insufficient_user_authentication: the account has a factor and this session is not aal2, or its authentication is too old (step up)')
  @ApiErrorResponse(409, 'factor_limit')
  registrationOptions(@CurrentPrincipal() principal: Principal): Promise<{ publicKey: unknown }> {
    return this.factors.passkeyRegistrationOptions(principal);
  }

  @Post('me/factors/passkey')
  @HttpCode(201)
  @Auth({ duringEnrollment: true })
  @Endpoint('Register a passkey: the answer of navigator.credentials.create() to the options of this session')
  @ApiCreatedResponse({ description: 'The factor; the first factor also returns `recoveryCodes`, once.' })
  @ApiErrorResponse(400, 'validation_failed: the credential is malformed, or does not verify (challenge, origin, relying party, user verification)')
  @ApiErrorResponse(401, 'insufficient_user_authentication: step up first')
  @ApiErrorResponse(409, 'factor_exists: this credential is registered already; factor_limit')
  addPasskey(
    @Body() dto: AddPasskeyDto,
    @CurrentPrincipal() principal: Principal,
    @Client() client: ClientContext,
  ): Promise<FactorView & { recoveryCodes?: string[] }> {
    return this.factors.addPasskey(principal, dto.credential, dto.name, client);
  }

  @Post('auth/passkey/options')
  @HttpCode(200)
  @AuthRateLimit()
  @Endpoint('Options for a password-less sign-in with a passkey (discoverable credentials, user verification required)')
  @ApiOkResponse(OPTIONS)
  signInOptions(): Promise<{ publicKey: unknown }> {
    return this.passkeys.signInOptions();
  }

  @Post('auth/passkey/login')
  @HttpCode(200)
  @Endpoint('Sign in with a passkey alone: a user-verified passkey is two factors (aal2); answers as a login does')
  @IssuesTokens()
  @AuthRateLimit()
  @ApiOkResponse({ description: 'The token response (or cookie, with useCookie) and the user, as a login answers.' })
  @ApiErrorResponse(
    401,
    'invalid_credentials: an unknown passkey, or an assertion that does not verify (challenge unknown, used or expired; origin, relying party, user verification, signature, or a counter that went backwards)',
  )
  @ApiErrorResponse(403, 'account_disabled; email_unverified (REQUIRE_EMAIL_VERIFICATION)')
  @ApiErrorResponse(400, 'invalid_dpop_proof: the DPoP header is not a valid proof for this request, or DPOP=required and there is none')
  async passkeyLogin(
    @Body() dto: PasskeyLoginDto,
    @Client() client: ClientContext,
    @DpopProof() proof: ProofRequest,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SignedInAnswer> {
    const signedIn = await this.auth.passkeyLogin({ ...dto, refreshCookie: this.cookie.read(request) }, client, proof);
    return this.loginAnswer.respond(reply, signedIn, dto.useCookie === true);
  }
}
