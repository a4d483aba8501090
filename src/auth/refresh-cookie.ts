import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/config';
import type { TokenResponse } from './auth.service';

export const REFRESH_COOKIE = 'latchkey_refresh';
export const CSRF_HEADER = 'x-latchkey-csrf';

/**
 * Browser mode: the refresh token lives in an HttpOnly, SameSite=Strict cookie scoped to /auth,
 * out of reach of page scripts; the token endpoint also demands a custom header, which a
 * cross-site form cannot send.
 */
@Injectable()
export class RefreshCookie {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  read(request: FastifyRequest): string | undefined {
    const value = request.cookies?.[REFRESH_COOKIE];
    return value ? value : undefined;
  }

  hasCsrfHeader(request: FastifyRequest): boolean {
    return request.headers[CSRF_HEADER] === '1';
  }

  /** Shapes a token response for the client: in cookie mode the token moves to the cookie. */
  respond(reply: FastifyReply, tokens: TokenResponse, cookieMode: boolean): TokenResponse {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    if (!cookieMode) return tokens;
    const { refresh_token, ...body } = tokens;
    reply.setCookie(REFRESH_COOKIE, refresh_token ?? '', {
      httpOnly: true,
      secure: this.config.cookieSecure,
      sameSite: 'strict',
      path: '/auth',
      maxAge: tokens.refresh_token_expires_in,
    });
    return body;
  }

  clear(reply: FastifyReply): void {
    reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, secure: this.config.cookieSecure, sameSite: 'strict', path: '/auth' });
  }
}
