import { ExecutionContext, Inject, Injectable, SetMetadata, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { annotateSession } from '../common/spans';
import { ApiErrorResponse, NOT_ADMIN, UNAUTHENTICATED } from '../common/openapi';

/** Replaces UNAUTHENTICATED's 401 entry (one entry per status), naming both codes. */
const STEP_UP = () =>
  ApiErrorResponse(
    401,
    'invalid_token: the access token is missing, invalid, expired or revoked; insufficient_user_authentication (RFC 9470): authenticate again or with a second factor (POST /me/step-up) and retry, WWW-Authenticate carries acr_values and max_age.',
  );
import type { Principal } from './jwt.strategy';
import { RefreshCookie } from './refresh-cookie';
import { DpopService } from './dpop.service';

export interface AuthOptions {
  admin?: boolean;
  /**
   * Also let in a browser that sends no access token but its refresh cookie with
   * `X-Latchkey-CSRF: 1` (sign-out after the access token expired); the handler then has no
   * principal and acts on the cookie's session.
   */
  orRefreshCookie?: boolean;
  /**
   * RFC 9470 step-up, decided from the token's claims alone: the session must be at this level
   * (`acr`), and its last authentication (`auth_time`) at most `maxAge` seconds old (`'reauth'`:
   * REAUTH_MAX_AGE). Otherwise 401 insufficient_user_authentication.
   */
  acr?: 'aal2';
  maxAge?: number | 'reauth';
  /**
   * A route a user who must still enrol a second factor (MFA_REQUIRED) may use: enrolment,
   * step-up, /me, /me/sessions, /auth/session, logout. Every other route answers them 403
   * mfa_enrollment_required.
   */
  duringEnrollment?: boolean;
}

const AUTH_OPTIONS = 'latchkey:auth';

@Injectable()
export class AccessTokenGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly cookie: RefreshCookie,
    private readonly dpop: DpopService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const options = this.reflector.getAllAndOverride<AuthOptions | undefined>(AUTH_OPTIONS, [context.getHandler(), context.getClass()]);
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    if (options?.orRefreshCookie) return this.accessTokenOrRefreshCookie(context, request, options);
    return this.accessToken(context, request, options);
  }

  /**
   * Sign-out routes: the access token when it passes; else the refresh cookie with
   * `X-Latchkey-CSRF: 1`, so a browser whose token expired meanwhile still signs out. A token
   * that fails (expired, revoked, forged, a bound one without its proof) counts for nothing: the
   * handler gets no principal and acts on the cookie's own session only, as with no token at all.
   */
  private async accessTokenOrRefreshCookie(context: ExecutionContext, request: FastifyRequest & { user?: Principal }, options: AuthOptions): Promise<boolean> {
    if (request.headers.authorization === undefined && this.cookie.fromBrowser(request) !== undefined) return true;
    try {
      return await this.accessToken(context, request, options);
    } catch (refused) {
      if (!(refused instanceof ApiError) || this.cookie.fromBrowserWithCsrfHeader(request) === undefined) throw refused;
      delete request.user; // set already when a bound token's proof is what failed
      return true;
    }
  }

  private async accessToken(context: ExecutionContext, request: FastifyRequest & { user?: Principal }, options: AuthOptions | undefined): Promise<boolean> {
    if (!(await super.canActivate(context))) return false;
    const principal = request.user!;
    // The request's span says whose it was: ids only, never the token (a no-op with tracing off).
    annotateSession(principal.sessionId, principal.userId);
    // The presentation before the role: a stolen bound token without its key learns nothing.
    await this.dpop.checkPresentation(request, principal.dpopJkt);
    if (options?.admin && principal.role !== 'admin') throw ApiError.forbidden('This needs an administrator.');
    if (principal.mfaEnrollmentRequired && !options?.duringEnrollment) throw ApiError.mfaEnrollmentRequired();
    this.checkAssurance(principal, options);
    return true;
  }

  /** Claims only: the hot path reads no database. */
  private checkAssurance(principal: Principal, options: AuthOptions | undefined): void {
    const adminNeedsAal2 = options?.admin === true && this.config.mfaRequired !== 'off';
    const acr = options?.acr ?? (adminNeedsAal2 ? 'aal2' : undefined);
    const maxAge = options?.maxAge === 'reauth' ? this.config.reauthMaxAge : options?.maxAge;
    const scheme = principal.dpopJkt ? 'DPoP' : 'Bearer';
    if (acr === 'aal2' && principal.acr !== 'aal2') throw ApiError.insufficientUserAuthentication('aal2', maxAge, scheme);
    if (maxAge !== undefined && this.clock.now() - principal.authTime > maxAge * 1000)
      throw ApiError.insufficientUserAuthentication(acr ?? principal.acr, maxAge, scheme);
  }

  override handleRequest<T = Principal>(err: unknown, principal: Principal | false, _info: unknown, context: ExecutionContext): T {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // RFC 6750 §3.1: no error code when the request carried no credential at all.
    const scheme = /^dpop(\s|$)/i.test(request.headers.authorization ?? '') ? 'DPoP' : 'Bearer';
    if (err || !principal) throw ApiError.invalidToken(/^(bearer|dpop)(\s|$)/i.test(request.headers.authorization ?? ''), undefined, scheme);
    return principal as T;
  }
}

/** One decorator drives both the guard and the OpenAPI security annotation. */
export function Auth(options: AuthOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(AUTH_OPTIONS, options),
    UseGuards(AccessTokenGuard),
    ApiBearerAuth(),
    UNAUTHENTICATED(),
    ...(options.admin ? [NOT_ADMIN()] : []),
    ...(options.acr || options.maxAge || options.admin ? [STEP_UP()] : []),
  );
}

/**
 * Per-route options inside a controller that `@Auth()` already guards (a second guard would
 * check a DPoP proof twice): they replace the controller's options for this route.
 */
export function AuthOptionsFor(options: AuthOptions): MethodDecorator {
  return applyDecorators(SetMetadata(AUTH_OPTIONS, options), ...(options.acr || options.maxAge ? [STEP_UP()] : []));
}

/** The verified caller, set by AccessTokenGuard (absent only on `orRefreshCookie` routes entered with the cookie). */
export const CurrentPrincipal = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest<FastifyRequest & { user: Principal }>().user,
);
