import { MAX_TOKEN_LENGTH, parseAuthorization } from '@latchkey/verifier';

/** The header members latchkey reads; tokens over MAX_TOKEN_LENGTH are refused before any parsing (RFC 9068 tokens are ~700 bytes here). */
interface JwtHeader {
  alg?: unknown;
  kid?: unknown;
  typ?: unknown;
}

/** Decodes only the protected header, cheaply and defensively; null when it is not a JWT. */
export function readJwtHeader(token: string): JwtHeader | null {
  if (token.length > MAX_TOKEN_LENGTH) return null;
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

/** The access token of `Authorization`, under either scheme (`Bearer`, or `DPoP` of RFC 9449 §7.1): the verifier's parser, so latchkey and resource servers read the header alike. */
export function accessTokenOf(header: string | string[] | undefined): string | null {
  return parseAuthorization(header)?.token ?? null;
}
