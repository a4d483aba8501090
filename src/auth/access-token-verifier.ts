import { Inject, Injectable } from '@nestjs/common';
import * as jwt from 'jsonwebtoken';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { JSONWEBTOKEN_ALGS, SIGNING_ALGS, SigningAlg, signatureIsValid } from '../common/jws';
import { ROLES } from '../common/role';
import { RevocationRegistry } from '../sessions/revocation-registry';
import { isAcr } from '../sessions/assurance';
import type { AccessTokenClaims } from './access-tokens.service';
import { isAccessTokenType, readJwtHeader } from './jwt-header';
import { SigningKeysService, VerificationKey } from './signing-keys.service';

/**
 * What makes an access token acceptable, in one place: the passport strategy (every protected
 * route) and introspection use the same rules. CPU only: header screening before any key
 * lookup or crypto (alg among the offered ones and equal to its key's, typ, kid), the signature
 * with a KeyObject, iss, aud, exp, the claims latchkey puts in, and the revocation registry.
 * jsonwebtoken checks RS256 and ES256 tokens (for passport-jwt as for introspection); EdDSA,
 * which it does not know, is checked with node:crypto and the same claim rules.
 */
@Injectable()
export class AccessTokenVerifier {
  /** jsonwebtoken's options: the algorithms it may accept and the pinned issuer and audience. */
  readonly options: { algorithms: jwt.Algorithm[]; issuer: string; audience: string };

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly keys: SigningKeysService,
    private readonly registry: RevocationRegistry,
    private readonly clock: Clock,
  ) {
    this.options = { algorithms: [...JSONWEBTOKEN_ALGS] as jwt.Algorithm[], issuer: config.jwtIssuer, audience: config.jwtAudience };
  }

  /** The key that may have signed this token, if its header is acceptable; undefined otherwise. */
  keyFor(token: string): VerificationKey | undefined {
    const header = readJwtHeader(token);
    if (!header || !SIGNING_ALGS.includes(header.alg as SigningAlg) || !isAccessTokenType(header.typ) || typeof header.kid !== 'string') return undefined;
    const key = this.keys.verificationKey(header.kid);
    // A key signs with one algorithm only: no switching a token to another alg under the same key.
    return key && key.alg === header.alg ? key : undefined;
  }

  /** latchkey's own claims, of the right types. */
  hasValidClaims(claims: Partial<AccessTokenClaims>): claims is AccessTokenClaims {
    const cnf = claims.cnf as unknown;
    const binding = cnf === undefined || (typeof cnf === 'object' && cnf !== null && typeof (cnf as { jkt?: unknown }).jkt === 'string');
    // Tokens signed before v3 carry no assurance: they read as a password-only aal1.
    const assurance =
      (claims.acr === undefined || isAcr(claims.acr)) &&
      (claims.amr === undefined || (Array.isArray(claims.amr) && claims.amr.every((m) => typeof m === 'string'))) &&
      (claims.auth_time === undefined || typeof claims.auth_time === 'number');
    return typeof claims.sub === 'string' && typeof claims.sid === 'string' && typeof claims.jti === 'string' && ROLES.includes(claims.role as never) && binding && assurance;
  }

  isRevoked(sessionId: string): boolean {
    return this.registry.isRevoked(sessionId);
  }

  /** The verified claims of a token that is acceptable right now, or null. */
  verify(token: string): AccessTokenClaims | null {
    const key = this.keyFor(token);
    if (!key) return null;
    const claims = JSONWEBTOKEN_ALGS.includes(key.alg) ? this.viaJsonwebtoken(token, key) : this.viaNodeCrypto(token, key);
    if (!claims || !this.hasValidClaims(claims) || this.isRevoked(claims.sid)) return null;
    return claims;
  }

  private viaJsonwebtoken(token: string, key: VerificationKey): Partial<AccessTokenClaims> | null {
    try {
      return jwt.verify(token, key.key as unknown as jwt.Secret, { ...this.options, algorithms: [key.alg as jwt.Algorithm], clockTimestamp: Math.floor(this.clock.now() / 1000) }) as Partial<AccessTokenClaims>;
    } catch {
      return null;
    }
  }

  /** The checks jsonwebtoken makes, for EdDSA: signature, then iss, aud, exp and nbf. */
  private viaNodeCrypto(token: string, key: VerificationKey): Partial<AccessTokenClaims> | null {
    if (!signatureIsValid(key.alg, key.key, token)) return null;
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    const now = Math.floor(this.clock.now() / 1000);
    if (claims.iss !== this.options.issuer || claims.aud !== this.options.audience) return null;
    if (typeof claims.exp !== 'number' || now >= claims.exp) return null;
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || now < claims.nbf)) return null;
    return claims as Partial<AccessTokenClaims>;
  }
}
