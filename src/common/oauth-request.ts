import { ApiError } from './api-error';

/** Parameters an RFC 6749 client may send alongside ours; accepted and ignored. */
const IGNORED = new Set(['client_id', 'scope']);

/**
 * Reads an RFC 6749/7009 request body (form or JSON) strictly: every value a single string,
 * nothing unknown. Errors use the RFC's `invalid_request`.
 */
export function readOAuthParams(body: unknown, known: string[]): Record<string, string | undefined> {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) throw ApiError.oauth('invalid_request', 'The body must be a form or a JSON object.');
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (!known.includes(key) && !IGNORED.has(key)) throw ApiError.oauth('invalid_request', `Unknown parameter: ${key.slice(0, 40)}.`);
    if (typeof value !== 'string') throw ApiError.oauth('invalid_request', `The parameter ${key} must be given once, as a string.`);
    // RFC 6749 §3.2: parameters sent without a value are treated as omitted.
    if (known.includes(key)) out[key] = value === '' ? undefined : value;
  }
  return out;
}
