import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-jwt';
import type { FastifyRequest } from 'fastify';
import type { Role } from '../common/role';
import type { Acr } from '../sessions/assurance';
import { SigningKeysService } from './signing-keys.service';
import { accessTokenOf, readJwtHeader } from './jwt-header';
import type { AccessTokenClaims } from './access-tokens.service';
import { AccessTokenVerifier } from './access-token-verifier';
import { Clock } from '../common/clock';

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

/** Verified tokens kept at most; beyond it the oldest entry is dropped (Map insertion order). */
export const TOKEN_CACHE_MAX = 10_000;
/**
 * Admission once the cache is half full: only every Nth verified miss is cached. A token that
 * is presented again and again gets in after a few misses; a stream of never-repeated tokens
 * (bench/guard.ts, "fresh token") no longer churns the cache: with unconditional admission,
 * filling and evicting was about 5% of that path's time (--cpu-prof, bench/profile.ts).
 */
const ADMIT_EVERY = 8;

interface CachedToken {
  /** The claims-derived principal; revocation is still checked on every request. */
  principal: Principal;
  /** `exp`, in seconds, as in the token. */
  exp: number;
  kid: string;
}

/**
 * passport-jwt with the algorithm, issuer and audience pinned. The key is chosen by `kid` from
 * KeyObjects parsed once; the header is screened first (size, alg, typ, kid), so `alg: none`,
 * HS256 with the public key as secret, a wrong `typ` or an unknown key never reach crypto.
 * Revocation is a Map lookup in the in-memory registry: no database read per request.
 *
 * Tokens that passed every check (signature, alg, typ, kid, iss, aud, exp) are remembered in a
 * bounded cache keyed by the whole token string, so a client that presents the same token
 * again skips the signature verification (bench/guard.ts). A cached token is still refused as
 * soon as its `exp` passes (same rule as jsonwebtoken: expired once now ≥ exp), as soon as its
 * session is revoked (the registry is asked on every request, hit or miss), and as soon as its
 * `kid` is no longer a known verification key. Only fully verified tokens are ever cached.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly verified = new Map<string, CachedToken>();
  private missesSinceAdmission = 0;

  constructor(
    private readonly keys: SigningKeysService,
    private readonly verifier: AccessTokenVerifier,
    private readonly clock: Clock,
  ) {
    super({
      jwtFromRequest: (request: FastifyRequest) => accessTokenOf(request.headers.authorization),
      secretOrKeyProvider: (_request: unknown, rawToken: string, done: (err: Error | null, key?: string | Buffer) => void) => {
        const key = verifier.keyFor(rawToken);
        if (!key) return done(new Error('unacceptable token header'));
        // jsonwebtoken accepts a KeyObject; the typings only name strings and buffers.
        done(null, key.key as unknown as Buffer);
      },
      ...verifier.options,
      ignoreExpiration: false,
      passReqToCallback: true,
    });
  }

  /**
   * passport calls this per request, with `this` an object whose prototype is this strategy
   * and which carries success/fail. A cache hit answers here; anything else takes the full
   * passport-jwt path (and a success there fills the cache, in validate()).
   */
  override authenticate(request: Parameters<Strategy['authenticate']>[0], options?: unknown): void {
    const token = accessTokenOf(request.headers.authorization);
    if (token !== null) {
      const hit = this.verified.get(token);
      if (hit !== undefined) {
        if (Math.floor(this.clock.now() / 1000) < hit.exp && this.keys.verificationKey(hit.kid) !== undefined) {
          if (this.verifier.isRevoked(hit.principal.sessionId)) return (this as unknown as PassportActions).fail('revoked session', 401);
          return (this as unknown as PassportActions).success(hit.principal);
        }
        this.verified.delete(token);
      }
      // The shared verifier, not passport-jwt's own call of jsonwebtoken: that one reads Date.now(),
      // and exp is a decision by time (the Clock's); it also knows EdDSA, which jsonwebtoken does not.
      const claims = this.verifier.verify(token);
      const principal = claims ? this.validate(request as unknown as FastifyRequest, claims) : false;
      return principal ? (this as unknown as PassportActions).success(principal) : (this as unknown as PassportActions).fail('invalid token', 401);
    }
    // No token: passport-jwt's answer for that.
    (Strategy.prototype.authenticate as (this: unknown, req: unknown, options?: unknown) => void).call(this, request, options);
  }

  /** Runs after passport-jwt verified the signature and every registered claim. */
  validate(request: FastifyRequest, claims: AccessTokenClaims): Principal | false {
    if (!this.verifier.hasValidClaims(claims)) return false;
    // Frozen: a cached principal is handed to every request that presents the same token.
    const principal: Principal = Object.freeze({
      userId: claims.sub,
      sessionId: claims.sid,
      role: claims.role,
      tokenId: claims.jti,
      dpopJkt: claims.cnf?.jkt ?? null,
      expiresAt: claims.exp * 1000,
      acr: claims.acr ?? 'aal1',
      amr: Object.freeze([...(claims.amr ?? ['pwd'])]),
      authTime: (claims.auth_time ?? claims.iat) * 1000,
      mfaEnrollmentRequired: claims.mfa_enrollment_required === true,
    });
    const token = accessTokenOf(request.headers.authorization);
    const kid = token === null ? undefined : readJwtHeader(token)?.kid;
    if (token !== null && typeof kid === 'string' && typeof claims.exp === 'number') this.remember(token, { principal, exp: claims.exp, kid });
    if (this.verifier.isRevoked(claims.sid)) return false;
    return principal;
  }

  /** How many verified tokens are cached (tests, diagnostics). */
  get cachedTokens(): number {
    return this.verified.size;
  }

  private remember(token: string, entry: CachedToken): void {
    if (this.verified.size >= TOKEN_CACHE_MAX / 2 && ++this.missesSinceAdmission % ADMIT_EVERY !== 0) return;
    if (this.verified.size >= TOKEN_CACHE_MAX) {
      // Drop the oldest; and every expired entry met on the way, cheaply, from the front.
      const now = Math.floor(this.clock.now() / 1000);
      for (const [key, value] of this.verified) {
        this.verified.delete(key);
        if (value.exp > now && this.verified.size < TOKEN_CACHE_MAX) break;
      }
    }
    this.verified.set(token, entry);
  }
}

/** What passport adds to the per-request strategy object. */
interface PassportActions {
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
}
