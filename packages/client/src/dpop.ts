import type { SharedStore } from './store.js';

const KEY = 'dpop-key';

const encoder = new TextEncoder();

export function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const b of view) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const json64 = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));

/** The device's DPoP key: ES256, its private half generated non-extractable, kept in IndexedDB. */
export interface DeviceKey {
  privateKey: CryptoKey;
  publicJwk: { kty: string; crv: string; x: string; y: string };
}

/**
 * The origin's key: the same in every tab and after a reload. Created only at sign-in (`create`):
 * a session whose key vanished (storage cleared) cannot be proven by a new one, so it is null then.
 */
export async function deviceKey(store: SharedStore, create: boolean): Promise<DeviceKey | null> {
  const stored = await store.get<{ privateKey: CryptoKey; publicKey: CryptoKey }>(KEY);
  if (!stored && !create) return null;
  const pair = stored ?? (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']));
  if (!stored) await store.put(KEY, { privateKey: pair.privateKey, publicKey: pair.publicKey });
  const { kty, crv, x, y } = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as { kty: string; crv: string; x: string; y: string };
  return { privateKey: pair.privateKey, publicJwk: { kty, crv, x, y } };
}

export function forgetDeviceKey(store: SharedStore): Promise<void> {
  return store.delete(KEY);
}

/**
 * An RFC 9449 proof for one request. `iat` is the server's time as this client estimates it (its
 * clock plus the offset seen in the server's Date header), so a wrong local clock does not matter.
 */
export async function proof(key: DeviceKey, method: string, url: string, serverNow: number, accessToken?: string): Promise<string> {
  const target = new URL(url);
  const payload: Record<string, unknown> = {
    jti: crypto.randomUUID(),
    htm: method.toUpperCase(),
    htu: `${target.origin}${target.pathname}`,
    iat: Math.floor(serverNow / 1000),
  };
  if (accessToken) payload.ath = base64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken)));
  const input = `${json64({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })}.${json64(payload)}`;
  // WebCrypto's ECDSA signature is r‖s, exactly JWS's ES256 encoding.
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, encoder.encode(input));
  return `${input}.${base64url(signature)}`;
}
