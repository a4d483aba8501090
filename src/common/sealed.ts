import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with the additional data bound in (a signing key's kid), as base64url of
 * iv ‖ tag ‖ ciphertext. Private signing keys are stored this way under KEY_ENCRYPTION_KEY.
 */
export function seal(key: Buffer, plain: Buffer, additionalData: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(additionalData));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The plaintext of `seal`; throws when the key or the additional data differ. */
export function unseal(key: Buffer, sealed: string, additionalData: string): Buffer {
  const raw = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(additionalData));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
}

/** A key of its own for one purpose, derived from KEY_ENCRYPTION_KEY (HKDF-SHA256), so no two purposes share a key. */
export function subkey(key: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), purpose, 32));
}
