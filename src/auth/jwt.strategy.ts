import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-jwt';
import type { FastifyRequest } from 'fastify';
import type { Role } from '../common/role';
import type { Acr } from '../sessions/assurance';
import type { AccessTokenClaims } from '@latchkey/verifier';
import { accessTokenOf } from './jwt-header';
import { AccessTokenVerifier } from './access-token-verifier';

/** Who is calling, as established by a verified access token. */
export interface Principal {
  userId: string;
  sessionId: string;
  role: Role;
  tokenId: string;
  /** The DPoP key the token is bound to (`cnf.jkt`), or null: a bound token needs a proof by it with every request. */
  dpopJkt: string | null;
  /** When the access token expires (ms). */
  expiresAt: number;
  /** The session's assurance as the token states it (claims only: no database read). */
  acr: Acr;
  amr: readonly string[];
  /** Epoch ms of the last real authentication. */
  authTime: number;
  /** MFA_REQUIRED covers the user and they have no factor yet. */
  mfaEnrollmentRequired: boolean;
}

/**
 * passport-jwt as the guard's strategy, with the decision taken by the one access-token check
 * (AccessTokenVerifier, i.e. @latchkey/verifier's AccessTokenCheck) rather than by
 * jsonwebtoken: passport-jwt reads the token from the request (`jwtFromRequest`), the check
 * screens the header, verifies signature and claims, answers repeats from its cache and asks
 * the revocation registry, and `validate` turns the claims into the request's Principal. So
 * latchkey, introspection and every resource server accept exactly the same tokens, and
 * verifying is CPU only: no database read per request.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  /** One frozen Principal per verified claims object (the check hands out the cached object on repeats). */
  private readonly principals = new WeakMap<AccessTokenClaims, Principal>();

  constructor(private readonly verifier: AccessTokenVerifier) {
    super({
      jwtFromRequest: (request: FastifyRequest) => accessTokenOf(request.headers.authorization),
      // Never used: authenticate() below decides every token. passport-jwt requires a key source.
      secretOrKeyProvider: (_request: unknown, _token: string, done: (err: Error | null) => void) =>
        done(new Error('tokens are verified by AccessTokenVerifier')),
    });
  }

  /**
   * passport calls this per request, with `this` an object whose prototype is this strategy
   * and which carries success/fail.
   */
  override authenticate(request: Parameters<Strategy['authenticate']>[0]): void {
    const actions = this as unknown as PassportActions;
    const token = (this as unknown as { _jwtFromRequest(request: unknown): string | null })._jwtFromRequest(request);
    if (token === null) return actions.fail('no token', 401);
    const claims = this.verifier.verify(token);
    return claims ? actions.success(this.validate(claims)) : actions.fail('invalid token', 401);
  }

  /** The request's Principal: claims only, no database read. */
  validate(claims: AccessTokenClaims): Principal {
    let principal = this.principals.get(claims);
    if (principal === undefined) {
      // Frozen: a cached principal is handed to every request that presents the same token.
      principal = Object.freeze({
        userId: claims.sub,
        sessionId: claims.sid,
        role: claims.role,
        tokenId: claims.jti,
        dpopJkt: claims.cnf?.jkt ?? null,
        expiresAt: claims.exp * 1000,
        // Tokens signed before v3 carry no assurance: they read as a password-only aal1.
        acr: claims.acr ?? 'aal1',
        amr: Object.freeze([...(claims.amr ?? ['pwd'])]),
        authTime: (claims.auth_time ?? claims.iat) * 1000,
        mfaEnrollmentRequired: claims.mfa_enrollment_required === true,
      });
      this.principals.set(claims, principal);
    }
    return principal;
  }

  /** How many verified tokens are cached (tests, diagnostics). */
  get cachedTokens(): number {
    return this.verifier.cachedTokens;
  }
}

/** What passport adds to the per-request strategy object. */
interface PassportActions {
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
}
