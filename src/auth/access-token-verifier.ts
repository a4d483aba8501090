import { Inject, Injectable } from '@nestjs/common';
import { AccessTokenCheck, TokenRefusal, type AccessTokenClaims } from '@latchkey/verifier';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { RevocationRegistry } from '../sessions/revocation-registry';
import { SigningKeysService } from './signing-keys.service';

/** Verified tokens kept at most (the verifier package's cache, sized for one latchkey instance). */
export const TOKEN_CACHE_MAX = 10_000;

/**
 * What makes an access token acceptable, decided by the one check that resource servers run
 * too (@latchkey/verifier's AccessTokenCheck): header screening before any key lookup or
 * crypto, the signature, iss, aud, exp, latchkey's claims, the verified-token cache, and the
 * revocation registry. Here its keys are latchkey's own (SigningKeysService, parsed once) and
 * its revocations the in-memory registry, so verifying is CPU only: no database read. The
 * passport strategy (every protected route) and introspection both ask this.
 */
@Injectable()
export class AccessTokenVerifier {
  private readonly check: AccessTokenCheck;

  constructor(@Inject(APP_CONFIG) config: AppConfig, keys: SigningKeysService, registry: RevocationRegistry, clock: Clock) {
    this.check = new AccessTokenCheck({
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      // latchkey's instances share one clock source with the tokens they sign: no tolerance.
      clockTolerance: 0,
      cacheSize: TOKEN_CACHE_MAX,
      now: () => clock.now(),
      keyOf: (kid) => keys.verificationKey(kid),
      isRevoked: (sessionId) => registry.isRevoked(sessionId),
    });
  }

  /** The verified claims of a token that is acceptable right now, or null. */
  verify(token: string): AccessTokenClaims | null {
    const claims = this.check.verify(token);
    return claims instanceof TokenRefusal ? null : claims;
  }

  /** How many verified tokens are cached (tests, diagnostics). */
  get cachedTokens(): number {
    return this.check.cachedTokens;
  }
}
