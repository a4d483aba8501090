/** Tokens longer than this are refused before any parsing or crypto, as latchkey itself does. */
export const MAX_TOKEN_LENGTH = 4096;

/** A credential read from an `Authorization` header. */
export interface Credentials {
  scheme: 'Bearer' | 'DPoP';
  token: string;
}

const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9._~+/-]+=*) *$/i;
const TOKEN_SCHEME = /^(Bearer|DPoP)(\s|$)/i;

/**
 * Reads `Authorization: Bearer <token>` or `Authorization: DPoP <token>`.
 * Returns null when there is no such credential; {@link looksLikeTokenAttempt} tells a
 * malformed one apart from an absent one (RFC 6750 §3.1 answers them differently).
 */
export function parseAuthorization(header: string | string[] | undefined): Credentials | null {
  if (typeof header !== 'string' || header.length > MAX_TOKEN_LENGTH + 16) return null;
  const match = CREDENTIALS.exec(header);
  if (!match) return null;
  return { scheme: match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2] };
}

/** The token of an `Authorization: Bearer …` header value; null when absent or another scheme. */
export function bearerToken(header: string | string[] | undefined): string | null {
  const credentials = parseAuthorization(header);
  return credentials?.scheme === 'Bearer' ? credentials.token : null;
}

/** True when the header names a token scheme, even if what follows is not a well-formed token. */
export function looksLikeTokenAttempt(header: string | string[] | undefined): boolean {
  return typeof header === 'string' && TOKEN_SCHEME.test(header);
}

/** RFC 6749 §2.3.1: each part is form-urlencoded (Appendix B) before the usual Basic encoding. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
}

function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/** The parts of a Node request (Express, Fastify, plain http) needed to rebuild its absolute URL. */
export interface RequestLike {
  method: string;
  url?: string;
  originalUrl?: string;
  protocol?: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The absolute URL a client addressed, for DPoP's `htu`. Behind a proxy the request's own view can
 * differ from the client's: pass `origin` (e.g. `https://api.example.com`) to pin it.
 */
export function requestUrl(request: RequestLike, origin?: string): string {
  // Express rewrites req.url inside routers; originalUrl is what the client sent.
  const path = request.originalUrl ?? request.url ?? '/';
  if (origin) return new URL(path, origin).href;
  const host = request.headers.host;
  return `${request.protocol ?? 'http'}://${typeof host === 'string' ? host : 'localhost'}${path}`;
}

/** A non-2xx answer from latchkey, with the RFC error code when the body had one. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`${new URL(url).pathname} answered ${status}${code ? ` ${code}` : ''}`);
    this.name = 'HttpStatusError';
  }
}

/**
 * Redirects are answered as errors (a 3xx is not `ok`), never followed with the credentials. Not
 * `redirect: 'error'`: with it, Node 20's undici lets the request's AbortController be garbage
 * collected, after which aborting no longer ends a long poll or stream (nodejs/undici#4627).
 */
export const MANUAL_REDIRECT: RequestRedirect = 'manual';

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * GET a JSON document with a deadline that also covers reading the body, and that `signal`
 * (the verifier's close) cuts short. Non-2xx answers throw {@link HttpStatusError}.
 */
export async function getJson(
  fetchFn: typeof fetch,
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<JsonResponse> {
  const controller = linkedController(signal);
  const timer = setTimeout(() => controller.abort(new Error(`no answer from ${new URL(url).pathname} within ${timeoutMs} ms`)), timeoutMs);
  try {
    const response = await fetchFn(url, { headers: { accept: 'application/json', ...headers }, signal: controller.signal, redirect: MANUAL_REDIRECT });
    if (!response.ok) throw await statusError(url, response);
    return { status: response.status, headers: response.headers, body: await response.json() };
  } finally {
    clearTimeout(timer);
    controller.dispose();
  }
}

/** Reads what a refusal says (its `error` code and `Retry-After`), then lets the connection go. */
export async function statusError(url: string, response: Response): Promise<HttpStatusError> {
  let code: string | undefined;
  try {
    const body = (await response.json()) as { error?: unknown };
    if (typeof body?.error === 'string') code = body.error;
  } catch {
    // Not JSON: the status says enough.
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  return new HttpStatusError(url, response.status, code, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
}

/** An AbortController that also aborts when `parent` does; dispose() unhooks it from the parent. */
export function linkedController(parent: AbortSignal): AbortController & { dispose(): void } {
  const controller = new AbortController() as AbortController & { dispose(): void };
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  controller.dispose = () => parent.removeEventListener('abort', onAbort);
  return controller;
}

/**
 * A delay that `signal` ends early (resolving, not rejecting: the caller checks why it woke).
 * It keeps the process alive on purpose: a service awaiting ready() while latchkey is down must
 * not exit between retries. close() aborts the signal and so clears it.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
