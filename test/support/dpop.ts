import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { accessTokenHash } from '@latchkey/verifier';

/** A client's DPoP key pair, with its public JWK and thumbprint. */
export interface DpopKey {
  privateKey: jose.CryptoKey;
  jwk: jose.JWK;
  jkt: string;
}

export async function dpopKey(): Promise<DpopKey> {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
  const jwk = await jose.exportJWK(publicKey);
  return { privateKey, jwk, jkt: await jose.calculateJwkThumbprint(jwk, 'sha256') };
}

export interface ProofClaims {
  htm?: string;
  htu?: string;
  iat?: number;
  jti?: string;
  /** The access token the proof is for (sets `ath`). */
  accessToken?: string;
}

/** An RFC 9449 proof for `method url`, signed by `key`; `claims` and `header` override any part. */
export function dpopProof(key: DpopKey, method: string, url: string, claims: ProofClaims = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: jose.JWTPayload = {
    htm: claims.htm ?? method,
    htu: claims.htu ?? url,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    jti: claims.jti ?? randomUUID(),
    ...(claims.accessToken ? { ath: accessTokenHash(claims.accessToken) } : {}),
  };
  return new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header }).sign(key.privateKey);
}
