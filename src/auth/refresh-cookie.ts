import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { RouteFlags } from '../common/route-flags';
import type { TokenResponse } from './auth.service';
import { accessTokenOf } from './jwt-header';

export const CSRF_HEADER = 'x-latchkey-csrf';

/**
 * The cookie's name. With `Secure`, the `__Secure-` prefix makes browsers refuse it unless it
 * was set over HTTPS with Secure, so a network attacker cannot plant one over plain HTTP.
 */
export function refreshCookieName(config: Pick<AppConfig, 'cookieSecure'>): string {
  return config.cookieSecure ? '__Secure-latchkey_refresh' : 'latchkey_refresh';
}

export function refreshCookieOptions(config: Pick<AppConfig, 'cookieSecure'>) {
  return { httpOnly: true, secure: config.cookieSecure, sameSite: 'strict' as const, path: '/auth' };
}

/** Clears the refresh cookie on an answer. */
export function clearRefreshCookie(reply: FastifyReply, config: Pick<AppConfig, 'cookieSecure'>): void {
  reply.clearCookie(refreshCookieName(config), refreshCookieOptions(config));
}

/** The header a cross-site form cannot send, nor a cross-site script without a CORS preflight that only CORS_ORIGINS pass. */
function hasCsrfHeader(request: FastifyRequest): boolean {
  return request.headers[CSRF_HEADER] === '1';
}

/**
 * The one rule for when a sign-out route's answer clears the cookie (the header hook asks it for
 * every answer, success or error): only when no other site can have made the request, because it
 * carries `X-Latchkey-CSRF: 1` or an access token (`Bearer`/`DPoP`: unlike Basic credentials, a
 * browser never attaches one by itself). Otherwise any page could make the browser POST there and
 * have even the 403 or 415 it earns sign the victim out: a logout CSRF.
 */
export function answerClearsRefreshCookie(flags: RouteFlags, request: FastifyRequest): boolean {
  return flags.clearsRefreshCookie === true && (hasCsrfHeader(request) || accessTokenOf(request.headers.authorization) !== null);
}

/**
 * Browser mode: the refresh token lives in an HttpOnly, SameSite=Strict cookie scoped to /auth,
 * out of reach of page scripts; every route that acts on it also demands a custom header,
 * which a cross-site form cannot send.
 */
@Injectable()
export class RefreshCookie {
  private readonly name: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.name = refreshCookieName(config);
  }

  read(request: FastifyRequest): string | undefined {
    const value = request.cookies?.[this.name];
    return value ? value : undefined;
  }

  /**
   * The cookie's refresh token, for a route that may act on it: undefined without a cookie;
   * 403 when the cookie came without `X-Latchkey-CSRF: 1` (checked before the token is looked
   * at, so a cross-site request consumes and revokes nothing).
   */
  fromBrowser(request: FastifyRequest): string | undefined {
    const token = this.read(request);
    if (token !== undefined && !hasCsrfHeader(request)) throw ApiError.forbidden('Requests that use the refresh cookie need the X-Latchkey-CSRF: 1 header.');
    return token;
  }

  /** The cookie's refresh token when the request also carries `X-Latchkey-CSRF: 1`; otherwise undefined. */
  fromBrowserWithCsrfHeader(request: FastifyRequest): string | undefined {
    return hasCsrfHeader(request) ? this.read(request) : undefined;
  }

  /** Shapes a token response for the client: in cookie mode the token moves to the cookie. */
  respond(reply: FastifyReply, tokens: TokenResponse, cookieMode: boolean): TokenResponse {
    if (!cookieMode) return tokens;
    const { refresh_token, ...body } = tokens;
    reply.setCookie(this.name, refresh_token ?? '', { ...refreshCookieOptions(this.config), maxAge: tokens.refresh_token_expires_in });
    return body;
  }

  clear(reply: FastifyReply): void {
    clearRefreshCookie(reply, this.config);
  }
}
