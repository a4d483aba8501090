import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { User } from '../users/user.entity';
import { toUserView, UserView } from '../users/user.view';
import type { TokenResponse, TrustedDeviceGrant } from './auth.service';
import { RefreshCookie } from './refresh-cookie';
import { TrustedDeviceCookie } from './trusted-device-cookie';

/** A session just opened by a login, a login's second step or a passkey sign-in. */
export interface SignedIn {
  tokens: TokenResponse;
  user: User;
  trustedDevice?: TrustedDeviceGrant;
}

export type SignedInAnswer = TokenResponse & { user: UserView; trustedDevice?: string };

/**
 * The one answer of every way to sign in, so that they cannot drift apart: the token response and
 * the user; in cookie mode the refresh token and the trusted-device token move to their cookies.
 */
@Injectable()
export class LoginAnswer {
  constructor(
    private readonly refreshCookie: RefreshCookie,
    private readonly trustedDeviceCookie: TrustedDeviceCookie,
  ) {}

  respond(reply: FastifyReply, signedIn: SignedIn, cookieMode: boolean): SignedInAnswer {
    return {
      ...this.refreshCookie.respond(reply, signedIn.tokens, cookieMode),
      user: toUserView(signedIn.user),
      ...this.trustedDeviceCookie.respond(reply, signedIn.trustedDevice, cookieMode),
    };
  }
}
