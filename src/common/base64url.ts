/**
 * Decodes base64url only in its one canonical spelling, or gives null. The last character of
 * an encoding whose length is not a multiple of 4 carries unused bits that decoders ignore, so
 * without this check several strings would decode to the same MAC, and a token could be
 * altered without being refused.
 */
export function decodeCanonicalBase64url(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}
