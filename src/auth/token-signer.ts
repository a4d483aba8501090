import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { JSONWEBTOKEN_ALGS, signCompact } from '../common/jws';
import { SigningKeysService } from './signing-keys.service';

/**
 * Signs JWTs (access tokens, the feed's SETs) with the current signing key and its algorithm:
 * @nestjs/jwt for RS256 and ES256, node:crypto for EdDSA, which jsonwebtoken does not know.
 * The payload is given whole (iss, aud, iat, exp… included), so both paths sign the same claims.
 */
@Injectable()
export class TokenSigner {
  constructor(
    private readonly jwt: JwtService,
    private readonly keys: SigningKeysService,
  ) {}

  sign(payload: Record<string, unknown>, typ: string): string {
    const { kid, alg, privateKey } = this.keys.signingKey;
    if (!JSONWEBTOKEN_ALGS.includes(alg)) return signCompact(alg, privateKey, { kid, typ }, payload);
    return this.jwt.sign(payload, { privateKey, algorithm: alg as 'RS256' | 'ES256', header: { alg, kid, typ } });
  }
}
