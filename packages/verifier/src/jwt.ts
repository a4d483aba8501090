import { type KeyObject, verify as verifySignature } from 'node:crypto';

/**
 * A compact JWS checked with node:crypto, synchronously. jose's jwtVerify goes through WebCrypto,
 * whose every verification is an asynchronous job; on the hot path of a resource server that
 * costs about as much as the signature itself. Only the three algorithms latchkey signs with.
 */
export function signatureIsValid(alg: string, key: KeyObject, token: string): boolean {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return false;
  const data = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  try {
    switch (alg) {
      case 'RS256':
        return verifySignature('sha256', data, key, signature);
      case 'ES256':
        return verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'EdDSA':
        return verifySignature(null, data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** The payload of a compact JWS as a JSON object, or null. */
export function decodePayload(token: string): Record<string, unknown> | null {
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first <= 0 || last === first) return null;
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.slice(first + 1, last), 'base64url').toString('utf8'));
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
