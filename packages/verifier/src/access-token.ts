import type { KeyObject } from 'node:crypto';
import { MAX_TOKEN_LENGTH } from './http';
import { decodePayload, signatureIsValid } from './jwt';
import { SIGNING_ALGORITHMS } from './keys';

/**
 * The one decision on a latchkey access token, shared by latchkey's own guard and introspection
 * and by this package's verifier: header screening before any key lookup or crypto, the
 * signature (node:crypto, synchronously), the registered and latchkey claims, a bounded cache
 * of verified tokens, and the revocation check. CPU only: where keys and revocations come from
 * (latchkey's database and registry, or the JWKS and the feed) is the caller's business.
 */

export interface AccessTokenClaims {
  readonly iss: string;
  readonly aud: string | readonly string[];
  readonly sub: string;
  readonly sid: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  readonly role: 'user' | 'admin';
  /** Present on DPoP-bound tokens: the SHA-256 thumbprint of the client's key. */
  readonly cnf?: { readonly jkt: string };
  /** The session's assurance: `aal1` or `aal2` (absent on tokens signed before latchkey v3: read it as `aal1`). */
  readonly acr?: 'aal1' | 'aal2';
  /** RFC 8176 authentication methods (`pwd`, `otp`, `hwk`, `swk`, `user`, `mfa`). */
  readonly amr?: readonly string[];
  /** Epoch seconds of the session's last real authentication. */
  readonly auth_time?: number;
  /** latchkey's own: the user must still enrol a second factor; the token works only at latchkey's enrolment routes. */
  readonly mfa_enrollment_required?: true;
}

/** A key that verifies access tokens. Kept as the same object while its issuer keeps the key unchanged. */
export interface TokenKey {
  readonly kid: string;
  readonly alg: string;
  readonly keyObject: KeyObject;
}

export interface AccessTokenRules {
  issuer: string;
  audience: string;
  /** Seconds of clock difference allowed on `exp` and `nbf`. */
  clockTolerance: number;
  /** Verified tokens remembered, to skip the signature check on repeats; 0 turns it off. */
  cacheSize: number;
  /** Epoch milliseconds. */
  now: () => number;
  /** The key named by a token's `kid`, if there is one; called only for headers that passed screening. */
  keyOf: (kid: string) => TokenKey | undefined;
  isRevoked: (sessionId: string) => boolean;
}

/** What screening reads of an acceptable header. */
export interface ScreenedHeader {
  readonly alg: string;
  readonly kid: string;
}

/** Why a token was refused, in words safe to show its bearer (never the token). */
export class TokenRefusal {
  constructor(readonly message: string) {}
}

const ACCESS_TOKEN_TYPE = /^(application\/)?at\+jwt$/i;
const MAX_HEADER_LENGTH = 512;
const MAX_KID_LENGTH = 256;
const ACR_VALUES: readonly unknown[] = ['aal1', 'aal2'];
/** Admission to a half-full cache: one miss in this many (see remember()). */
const ADMIT_EVERY = 8;

interface CachedToken {
  readonly claims: AccessTokenClaims;
  /** The key that verified it: a hit counts only while `keyOf` still answers this very key. */
  readonly key: TokenKey;
}

/**
 * Header screening: size, `typ` (RFC 9068), `alg` among latchkey's, a `kid`, no `crit`. So
 * `alg: none`, HS256 with the public key as secret, an ID token or a 1 MB header never reach a
 * key lookup or crypto.
 */
export function screenAccessTokenHeader(token: string): ScreenedHeader | TokenRefusal {
  if (token.length > MAX_TOKEN_LENGTH) return new TokenRefusal('The access token is too large.');
  const dot = token.indexOf('.');
  if (dot <= 0 || dot > MAX_HEADER_LENGTH) return new TokenRefusal('The access token is malformed.');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
  } catch {
    return new TokenRefusal('The access token is malformed.');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return new TokenRefusal('The access token is malformed.');
  const { typ, alg, kid } = header;
  if (typeof typ !== 'string' || !ACCESS_TOKEN_TYPE.test(typ)) return new TokenRefusal('The token is not an access token (typ at+jwt).');
  if (typeof alg !== 'string' || !SIGNING_ALGORITHMS.includes(alg)) return new TokenRefusal('The access token algorithm is not accepted.');
  if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) return new TokenRefusal('The access token names no signing key.');
  if (header.crit !== undefined) return new TokenRefusal('The access token has critical header parameters this verifier does not know.');
  return { alg, kid };
}

/** iss, aud, exp, iat and nbf (RFC 7519 §4.1), `now` in epoch seconds; null when they are fine. */
function registeredClaimsProblem(
  payload: Record<string, unknown>,
  rules: Pick<AccessTokenRules, 'issuer' | 'audience' | 'clockTolerance'>,
  now: number,
): string | null {
  const { iss, aud, exp, nbf, iat } = payload;
  if (iss !== rules.issuer) return 'The access token is from another issuer.';
  if (aud !== rules.audience && !(Array.isArray(aud) && aud.includes(rules.audience))) return 'The access token is for another audience.';
  if (typeof exp !== 'number' || typeof iat !== 'number') return 'The access token lacks exp or iat.';
  if (now >= exp + rules.clockTolerance) return 'The access token has expired.';
  if (nbf !== undefined && (typeof nbf !== 'number' || now + rules.clockTolerance < nbf)) return 'The access token is not valid yet.';
  return null;
}

/** latchkey's claims, of the right types, frozen; null when one is missing or malformed. */
function readClaims(payload: Record<string, unknown>): AccessTokenClaims | null {
  const { iss, aud, sub, sid, jti, iat, exp, role, cnf, acr, amr, auth_time, mfa_enrollment_required } = payload;
  if (typeof sub !== 'string' || sub === '' || typeof sid !== 'string' || sid === '' || typeof jti !== 'string') return null;
  if (role !== 'user' && role !== 'admin') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof iss !== 'string') return null;
  let binding: { jkt: string } | undefined;
  if (cnf !== undefined) {
    // A confirmation we cannot honour must not be ignored: the token would become a bearer token.
    const jkt = typeof cnf === 'object' && cnf !== null && 'jkt' in cnf ? cnf.jkt : undefined;
    if (typeof jkt !== 'string' || jkt === '') return null;
    binding = Object.freeze({ jkt });
  }
  if (acr !== undefined && !ACR_VALUES.includes(acr)) return null;
  if (amr !== undefined && !(Array.isArray(amr) && amr.every((m) => typeof m === 'string'))) return null;
  if (auth_time !== undefined && typeof auth_time !== 'number') return null;
  return Object.freeze({
    iss,
    aud: Array.isArray(aud) ? Object.freeze([...aud]) : (aud as string),
    sub,
    sid,
    jti,
    iat,
    exp,
    role,
    ...(binding && { cnf: binding }),
    ...(acr !== undefined && { acr: acr as 'aal1' | 'aal2' }),
    ...(Array.isArray(amr) && { amr: Object.freeze(amr.map(String)) }),
    ...(auth_time !== undefined && { auth_time }),
    ...(mfa_enrollment_required === true && { mfa_enrollment_required: true as const }),
  });
}

/**
 * Verifies access tokens by the rules above. A verified token is remembered by its whole string,
 * so a client presenting the same token again skips the signature; a remembered token is still
 * refused once its `exp` passes, once its key is gone, and once its session is revoked (asked on
 * every call, hit or miss). Only fully verified tokens are remembered.
 */
export class AccessTokenCheck {
  private readonly verified = new Map<string, CachedToken>();
  private missesSinceAdmission = 0;

  constructor(private readonly rules: AccessTokenRules) {}

  /** The claims of a token acceptable right now, or why not. */
  verify(token: string): AccessTokenClaims | TokenRefusal {
    const claims = this.cached(token) ?? this.verifyUncached(token);
    return claims instanceof TokenRefusal ? claims : this.unlessRevoked(claims);
  }

  /** The claims of a remembered token whose key and lifetime still hold; revocation not yet asked. */
  cached(token: string): AccessTokenClaims | undefined {
    const hit = this.verified.get(token);
    if (hit === undefined) return undefined;
    if (this.rules.now() / 1000 < hit.claims.exp + this.rules.clockTolerance && this.rules.keyOf(hit.key.kid) === hit.key) return hit.claims;
    // Expired, or its key is gone: the full path gives the precise refusal.
    this.verified.delete(token);
    return undefined;
  }

  /** Screening, key, signature and claims; a success is remembered. Revocation not yet asked. */
  verifyUncached(token: string, header: ScreenedHeader | TokenRefusal = screenAccessTokenHeader(token)): AccessTokenClaims | TokenRefusal {
    if (header instanceof TokenRefusal) return header;
    const key = this.rules.keyOf(header.kid);
    if (!key) return new TokenRefusal('The access token was signed by an unknown key.');
    // A key signs with one algorithm only: no switching a token to another alg under the same key.
    if (key.alg !== header.alg) return new TokenRefusal('The access token algorithm does not match its key.');
    if (!signatureIsValid(key.alg, key.keyObject, token)) return new TokenRefusal('The access token is invalid.');
    const payload = decodePayload(token);
    if (!payload) return new TokenRefusal('The access token is malformed.');
    const problem = registeredClaimsProblem(payload, this.rules, this.rules.now() / 1000);
    if (problem) return new TokenRefusal(problem);
    const claims = readClaims(payload);
    if (!claims) return new TokenRefusal('The access token lacks required claims.');
    this.remember(token, { claims, key });
    return claims;
  }

  unlessRevoked(claims: AccessTokenClaims): AccessTokenClaims | TokenRefusal {
    return this.rules.isRevoked(claims.sid) ? new TokenRefusal('The session of this access token was revoked.') : claims;
  }

  /** Forgets remembered tokens that have expired. */
  sweep(): void {
    const now = this.rules.now() / 1000;
    for (const [token, { claims }] of this.verified) if (claims.exp + this.rules.clockTolerance <= now) this.verified.delete(token);
  }

  get cachedTokens(): number {
    return this.verified.size;
  }

  /**
   * Once the cache is half full, only every ADMIT_EVERY-th miss gets in: a token presented again
   * and again gets in after a few misses, while a stream of tokens never seen twice (every client
   * refreshing, or junk) stops churning the cache (with unconditional admission, filling and
   * evicting was about 5% of that path's time: latchkey's bench/profile.ts).
   */
  private remember(token: string, entry: CachedToken): void {
    const max = this.rules.cacheSize;
    if (max <= 0) return;
    if (this.verified.size >= max / 2 && ++this.missesSinceAdmission % ADMIT_EVERY !== 0) return;
    if (this.verified.size >= max) {
      // Map keeps insertion order: drop the oldest, and every expired entry met on the way.
      const now = this.rules.now() / 1000;
      for (const [key, value] of this.verified) {
        this.verified.delete(key);
        if (value.claims.exp + this.rules.clockTolerance > now && this.verified.size < max) break;
      }
    }
    this.verified.set(token, entry);
  }
}
