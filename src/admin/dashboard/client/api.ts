/**
 * The dashboard's client of latchkey. The access token lives in this module's memory only;
 * the refresh token is an HttpOnly, SameSite=Strict cookie scoped to /auth that scripts never
 * see. Refreshes send the X-Latchkey-CSRF header and happen before the access token expires.
 */

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Me {
  id: string;
  email: string;
  name: string | null;
  role: 'user' | 'admin';
}

interface TokenResponse {
  access_token: string;
  expires_in: number;
  session_id: string;
}

interface State {
  token: string;
  expiresAt: number;
  role: string;
  userId: string;
  sessionId: string;
}

let state: State | null = null;
let refreshTimer: number | undefined;
let refreshing: Promise<boolean> | null = null;
let onSignedOut: ((reason: string) => void) | null = null;

/** Set by the app: called when the session ends without the admin asking (revoked, expired). */
export function whenSignedOut(callback: (reason: string) => void): void {
  onSignedOut = callback;
}

/** Whether this browser signed in before: a hint that a refresh cookie may exist (not a secret). */
const HINT = 'latchkey.dashboard.signedIn';
const DEVICE = 'latchkey.dashboard.deviceId';

function deviceId(): string {
  let id = localStorage.getItem(DEVICE);
  if (!id || !/^[A-Za-z0-9._:-]{8,64}$/.test(id)) {
    id = `dash-${crypto.randomUUID()}`;
    localStorage.setItem(DEVICE, id);
  }
  return id;
}

function claims(token: string): { sub: string; role: string; sid: string } {
  const payload = token.split('.')[1] ?? '';
  const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
  return JSON.parse(json) as { sub: string; role: string; sid: string };
}

function accept(tokens: TokenResponse): void {
  const c = claims(tokens.access_token);
  state = { token: tokens.access_token, expiresAt: Date.now() + tokens.expires_in * 1000, role: c.role, userId: c.sub, sessionId: tokens.session_id };
  localStorage.setItem(HINT, '1');
  scheduleRefresh(tokens.expires_in);
}

/** Refreshes ahead of expiry: a minute early, or at 80% of a short lifetime. */
function scheduleRefresh(expiresIn: number): void {
  window.clearTimeout(refreshTimer);
  const lifetime = expiresIn * 1000;
  const delay = Math.max(1000, lifetime - Math.min(60_000, lifetime * 0.2));
  refreshTimer = window.setTimeout(() => {
    void refresh().then((ok) => {
      if (!ok) end('Your session has ended. Please sign in again.');
    });
  }, delay);
}

/** The session ended without the admin asking (revoked, expired, disabled): back to sign-in. */
function end(reason: string): void {
  clear();
  onSignedOut?.(reason);
}

function clear(): void {
  state = null;
  window.clearTimeout(refreshTimer);
  localStorage.removeItem(HINT);
}

async function readError(response: Response): Promise<ApiFailure> {
  let code = 'error';
  let message = `The server answered ${response.status}.`;
  try {
    const body = (await response.json()) as { error?: string; message?: string };
    code = body.error ?? code;
    message = body.message ?? message;
  } catch {
    /* not JSON */
  }
  return new ApiFailure(response.status, code, message);
}

export function signedIn(): boolean {
  return state !== null;
}

export function isAdmin(): boolean {
  return state?.role === 'admin';
}

export function currentUserId(): string | null {
  return state?.userId ?? null;
}

export async function signIn(email: string, password: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch('/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, useCookie: true, deviceId: deviceId(), deviceName: 'Admin dashboard' }),
    });
  } catch {
    throw new ApiFailure(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  if (!response.ok) throw await readError(response);
  accept((await response.json()) as TokenResponse);
}

/**
 * One refresh at a time: concurrent callers share it. Returns false when the cookie's session
 * is gone (signed out, revoked, expired).
 */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const response = await fetch('/auth/token', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-latchkey-csrf': '1' },
        body: JSON.stringify({ grant_type: 'refresh_token' }),
      });
      if (!response.ok) {
        clear();
        return false;
      }
      accept((await response.json()) as TokenResponse);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** On page load: restore the session from the refresh cookie, if this browser has one. */
export async function restore(): Promise<boolean> {
  if (!localStorage.getItem(HINT)) return false;
  return refresh();
}

export async function signOut(): Promise<void> {
  const token = state?.token;
  clear();
  if (!token) return;
  try {
    await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { authorization: `Bearer ${token}` } });
  } catch {
    /* the session ends on the server when its refresh token expires */
  }
}

/** An authorised call to the API. Refreshes first when the token is about to expire, and once on a 401. */
export async function api<T>(method: string, path: string, options: { signal?: AbortSignal } = {}): Promise<T> {
  if (!state) throw new ApiFailure(401, 'invalid_token', 'You are signed out.');
  if (state.expiresAt - Date.now() < 10_000 && !(await refresh())) {
    end('Your session has ended. Please sign in again.');
    throw new ApiFailure(401, 'invalid_token', 'Your session has ended.');
  }
  const send = () =>
    fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { authorization: `Bearer ${state?.token ?? ''}`, accept: 'application/json' },
      signal: options.signal,
    });
  let response: Response;
  try {
    response = await send();
    if (response.status === 401 && (await refresh())) response = await send();
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiFailure(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 401) {
    end('Your session has ended. Please sign in again.');
    throw await readError(response);
  }
  if (!response.ok) throw await readError(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function me(): Promise<Me> {
  return api<Me>('GET', '/me');
}
