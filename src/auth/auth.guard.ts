import { ExecutionContext, Injectable, SetMetadata, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import { NOT_ADMIN, UNAUTHENTICATED } from '../common/openapi';
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
}

const AUTH_OPTIONS = 'latchkey:auth';

@Injectable()
export class AccessTokenGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly cookie: RefreshCookie,
    private readonly dpop: DpopService,
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
    // The presentation before the role: a stolen bound token without its key learns nothing.
    await this.dpop.checkPresentation(request, principal.dpopJkt);
    if (options?.admin && principal.role !== 'admin') throw ApiError.forbidden('This needs an administrator.');
    return true;
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
  );
}

/** The verified caller, set by AccessTokenGuard (absent only on `orRefreshCookie` routes entered with the cookie). */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest<FastifyRequest & { user: Principal }>().user);
