import { createHash, generateKeyPair, JsonWebKey, KeyObject, sign as cryptoSign } from 'node:crypto';
import { promisify } from 'node:util';

/** The access-token (and SET) signing algorithms latchkey offers (JWT_ALG). */
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** jsonwebtoken (under @nestjs/jwt and passport-jwt) signs and verifies these; EdDSA it does not know. */
export const JSONWEBTOKEN_ALGS: readonly SigningAlg[] = ['RS256', 'ES256'];

export async function generateSigningKey(alg: SigningAlg): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  const generate = promisify(generateKeyPair) as (type: string, options: object) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;
  if (alg === 'RS256') return generate('rsa', { modulusLength: 2048 });
  if (alg === 'ES256') return generate('ec', { namedCurve: 'P-256' });
  return generate('ed25519', {});
}

/** The public members of a key's JWK (RFC 7517/7518/8037), in the JWKS and for the thumbprint. */
export function publicJwk(publicKey: KeyObject): JsonWebKey {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty === 'RSA') return { kty: jwk.kty, n: jwk.n, e: jwk.e };
  if (jwk.kty === 'EC') return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

/** RFC 7638 thumbprint: SHA-256 of the required members, in lexicographic order. */
export function thumbprint(jwk: JsonWebKey): string {
  const required =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** node:crypto's digest and key arguments for `alg` (JWS wants ECDSA signatures as r‖s, RFC 7518 §3.4). */
export function cryptoArguments(alg: SigningAlg, key: KeyObject): [digest: string | null, key: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' }] {
  if (alg === 'EdDSA') return [null, key];
  if (alg === 'ES256') return ['sha256', { key, dsaEncoding: 'ieee-p1363' }];
  return ['sha256', key];
}

/** The signing input of a compact JWS (header with `alg`, then payload). */
export function signingInput(alg: SigningAlg, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64({ ...header, alg })}.${b64(payload)}`;
}

/** A compact JWS signed with node:crypto: for EdDSA, which jsonwebtoken cannot sign. */
export function signCompact(alg: SigningAlg, key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = signingInput(alg, header, payload);
  const [digest, signingKey] = cryptoArguments(alg, key);
  return `${input}.${cryptoSign(digest, Buffer.from(input), signingKey).toString('base64url')}`;
}

/** signCompact on libuv's thread pool: for minting many tokens at once (benches, tests) without holding the event loop. */
export function signCompactAsync(alg: SigningAlg, key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const input = signingInput(alg, header, payload);
  const [digest, signingKey] = cryptoArguments(alg, key);
  return new Promise((resolve, reject) =>
    cryptoSign(digest, Buffer.from(input), signingKey, (err, signature) => (err ? reject(err) : resolve(`${input}.${signature.toString('base64url')}`))),
  );
}
