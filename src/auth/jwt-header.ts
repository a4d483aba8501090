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

/** `Authorization: Bearer <token>` or `DPoP <token>` (RFC 9449 §7.1); null when absent or neither. */
export function presentedToken(header: unknown): { scheme: 'Bearer' | 'DPoP'; token: string } | null {
  if (typeof header !== 'string' || header.length > MAX_ACCESS_TOKEN_LENGTH + 16) return null;
  const match = /^(Bearer|DPoP) +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  if (!match) return null;
  return { scheme: match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2] };
}

/** The access token of `Authorization`, whichever of the two schemes carries it. */
export function accessTokenOf(header: unknown): string | null {
  return presentedToken(header)?.token ?? null;
}
