/** Tokens longer than this are refused before any parsing or crypto (RFC 9068 tokens are ~700 bytes here). */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;

export interface JwtHeader {
  alg?: unknown;
  kid?: unknown;
  typ?: unknown;
}

/** Decodes only the protected header, cheaply and defensively; null when it is not a JWT. */
export function readJwtHeader(token: string): JwtHeader | null {
  if (token.length > MAX_ACCESS_TOKEN_LENGTH) return null;
  const dot = token.indexOf('.');
  if (dot <= 0 || dot > 512) return null;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    return header && typeof header === 'object' && !Array.isArray(header) ? header : null;
  } catch {
    return null;
  }
}

/** RFC 9068 §2.1: `at+jwt`, or its full media type. */
export function isAccessTokenType(typ: unknown): boolean {
  return typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ);
}

/** `Authorization: Bearer <token>`; null when absent or not a bearer credential. */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string' || header.length > MAX_ACCESS_TOKEN_LENGTH + 16) return null;
  const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return match ? match[1] : null;
}
