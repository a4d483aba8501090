import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/config';

/**
 * "Remember this device" for a browser in cookie mode: the trusted-device token in an HttpOnly,
 * SameSite=Strict cookie scoped to /auth (the login sends it back by itself), never seen by page
 * scripts. Other clients keep the token from the answer's `trustedDevice` and send it at login.
 */
@Injectable()
export class TrustedDeviceCookie {
  private readonly name: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.name = config.cookieSecure ? '__Secure-latchkey_trusted_device' : 'latchkey_trusted_device';
  }

  read(request: FastifyRequest): string | undefined {
    const value = request.cookies?.[this.name];
    return value ? value : undefined;
  }

  /** The answer's `trustedDevice` field, or (cookie mode) the cookie instead. */
  respond(reply: FastifyReply, grant: { token: string; maxAge: number } | undefined, cookieMode: boolean): { trustedDevice?: string } {
    if (!grant) return {};
    if (!cookieMode) return { trustedDevice: grant.token };
    reply.setCookie(this.name, grant.token, { httpOnly: true, secure: this.config.cookieSecure, sameSite: 'strict', path: '/auth', maxAge: grant.maxAge });
    return {};
  }
}
