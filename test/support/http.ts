export interface Reply<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
  /** Send the body as application/x-www-form-urlencoded. */
  form?: boolean;
  /** Send this exact string as the body. */
  raw?: string;
  contentType?: string;
}

/** A tiny HTTP client over fetch: the e2e suites talk to the app over real sockets. */
export class Http {
  cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  async request<T = any>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined;
    if (options.raw !== undefined) {
      payload = options.raw;
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (body !== undefined) {
      if (options.form) {
        payload = new URLSearchParams(body as Record<string, string>).toString();
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else {
        payload = JSON.stringify(body);
        headers['content-type'] = options.contentType ?? 'application/json';
      }
    }
    if (this.cookies.size && path.startsWith('/auth')) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(this.base + path, { method, headers, body: payload });
    for (const setCookie of response.headers.getSetCookie()) {
      const [pair] = setCookie.split(';');
      const [name, ...rest] = pair.split('=');
      const value = rest.join('=');
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(setCookie)) this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed as T, text, headers: response.headers };
  }

  get<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, undefined, options);
  }
  post<T = any>(path: string, body?: unknown, options?: RequestOptions) {
    return this.request<T>('POST', path, body, options);
  }
  delete<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, undefined, options);
  }
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  session_id: string;
  device_id: string;
  expires_in: number;
  refresh_token_expires_in: number;
  user?: { id: string; email: string; role: string };
}

let counter = 0;
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}@example.com`;
}

export const PASSWORD = 'correct horse battery';

/** The fields of a session in the API (GET /me/sessions, GET /admin/users/:id/sessions), sorted. */
export const SESSION_FIELDS: readonly string[] = [
  'acr',
  'authTime',
  'createdAt',
  'current',
  'deviceId',
  'deviceName',
  'dpopBound',
  'expiresAt',
  'id',
  'idleExpiresAt',
  'ip',
  'lastUsedAt',
  'revokedAt',
  'revokedReason',
  'userAgent',
];

export async function register(http: Http, email = uniqueEmail(), password = PASSWORD, name?: string): Promise<{ id: string; email: string }> {
  const r = await http.post('/auth/register', { email, password, ...(name ? { name } : {}) });
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${r.text}`);
  return r.body.user;
}

export async function login(http: Http, email: string, password = PASSWORD, extra: Record<string, unknown> = {}): Promise<Tokens> {
  const r = await http.post('/auth/login', { email, password, ...extra });
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
  return r.body;
}

export async function refresh(http: Http, refreshToken: string): Promise<Reply<Tokens & { error?: string; error_description?: string }>> {
  return http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, { form: true });
}

/** Retries `check` until it is true or `timeoutMs` passes; returns the elapsed milliseconds. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, stepMs = 5): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export function decodeJwt(token: string): { header: any; payload: any } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether an access token still gets the caller in (GET /me). */
export async function works(http: Http, t: { access_token: string }): Promise<boolean> {
  return (await http.get('/me', { token: t.access_token })).status === 200;
}
