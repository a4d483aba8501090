/**
 * The dashboard's client of latchkey: @latchkey/client in cookie mode. The refresh token is an
 * HttpOnly, SameSite=Strict cookie scoped to /auth that scripts never see; the client refreshes
 * before expiry with the X-Latchkey-CSRF header, once for all the dashboard's tabs, and ends the
 * session in every tab when one signs out or latchkey refuses it.
 */
import { confirmItsYou } from '../../../account/pages/client/second-step.js';
import { createClient, LatchkeyError, type PasskeyOptions, type PendingSecondStep, type SessionEndReason, type StepUpAnswer } from '@latchkey/client';

/** What a failed call throws: latchkey's error (status, code, message), or status 0 and `network`. */
export const ApiFailure = LatchkeyError;
export type ApiFailure = LatchkeyError;

export interface Me {
  id: string;
  email: string;
  name: string | null;
  role: 'user' | 'admin';
}

const latchkey = createClient({ mode: 'cookie', name: 'latchkey-dashboard', deviceName: 'Admin dashboard' });
const UNREACHABLE = 'The server cannot be reached. Check your connection and try again.';
const ENDED: Record<SessionEndReason, string> = {
  logout: 'You signed out in another tab.',
  revoked: 'Your session has ended. Please sign in again.',
  key_lost: 'Your session has ended. Please sign in again.',
};
/** This tab's own sign-out: its caller says what happened, not the listener. */
let signingOut = false;

/** Set by the app: called when the session ends without the admin asking here (revoked, expired, another tab). */
export function whenSignedOut(callback: (reason: string) => void): void {
  latchkey.addEventListener('sessionended', (event) => {
    if (!signingOut) callback(ENDED[(event as Event & { reason: SessionEndReason }).reason]);
  });
}

export function isAdmin(): boolean {
  return latchkey.session?.role === 'admin';
}

export function currentUserId(): string | null {
  return latchkey.session?.userId ?? null;
}

/** Null when signed in; the second step when the account has a factor (nothing is signed in until it is done). */
export async function signIn(email: string, password: string): Promise<PendingSecondStep | null> {
  try {
    const result = await latchkey.login(email, password);
    return 'mfaRequired' in result ? result : null;
  } catch (error) {
    throw unreachable(error);
  }
}

/** The second step of a sign-in. */
export async function verifySecondStep(pending: PendingSecondStep, answer: StepUpAnswer & { trustDevice?: boolean }): Promise<void> {
  try {
    await pending.verify(answer as Parameters<PendingSecondStep['verify']>[0]);
  } catch (error) {
    throw unreachable(error);
  }
}

/** A passkey sign-in: the options for the browser, then its assertion. */
export async function passkeyOptions(): Promise<PasskeyOptions> {
  try {
    return await latchkey.passkeyOptions();
  } catch (error) {
    throw unreachable(error);
  }
}

export async function passkeySignIn(credential: unknown): Promise<void> {
  try {
    await latchkey.passkeyLogin(credential);
  } catch (error) {
    throw unreachable(error);
  }
}

/** latchkey's own refusals stay as they are; anything else means it could not be reached. */
function unreachable(error: unknown): LatchkeyError {
  return error instanceof LatchkeyError ? error : new ApiFailure(0, 'network', UNREACHABLE);
}

/** On page load: the session this browser (or another tab of it) holds, if any. */
export function restore(): Promise<boolean> {
  return latchkey.restore();
}

/**
 * Ends this browser's session on the server with the refresh cookie and the CSRF header, so it
 * works even when the access token has long expired (a laptop that slept). Resolves with what
 * the server said; the session is gone locally, in every tab, either way.
 */
export async function signOut(): Promise<{ ok: true } | { ok: false; message: string }> {
  signingOut = true;
  try {
    return (await latchkey.logout()) ? { ok: true } : { ok: false, message: 'The server cannot be reached.' };
  } finally {
    signingOut = false;
  }
}

/** Set when latchkey refused the admin API because this admin has no second factor yet (MFA_REQUIRED). */
let enrolmentRequired = false;
export const needsSecondFactor = (): boolean => enrolmentRequired;

export const DIALOG_CLASSES = {
  field: 'field',
  primary: 'button button-primary button-block',
  secondary: 'button button-block',
  error: 'form-error',
  check: 'check',
  dialog: 'dialog step-up',
};

/**
 * An authorised call to the API (latchkey's client refreshes when due, and once on a 401 for
 * reads). A call latchkey wants a fresh second factor for (401 insufficient_user_authentication)
 * opens "Confirm it is you" and is sent once more after the step-up.
 */
export async function api<T>(method: string, path: string, options: { signal?: AbortSignal; body?: unknown } = {}): Promise<T> {
  try {
    return await send<T>(method, path, options);
  } catch (error) {
    if (!(error instanceof LatchkeyError) || error.code !== 'insufficient_user_authentication') throw error;
    if (!(await confirmItsYou(latchkey, DIALOG_CLASSES).catch(() => false))) throw error;
    return send<T>(method, path, options);
  }
}

async function send<T>(method: string, path: string, options: { signal?: AbortSignal; body?: unknown }): Promise<T> {
  let response: Response;
  try {
    response = await latchkey.fetch(path, {
      method,
      headers: { accept: 'application/json', ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    if (error instanceof LatchkeyError) throw new ApiFailure(401, 'invalid_token', 'You are signed out.');
    throw new ApiFailure(0, 'network', UNREACHABLE);
  }
  if (!response.ok) {
    const failure = await LatchkeyError.from(response);
    enrolmentRequired = failure.code === 'mfa_enrollment_required';
    throw failure;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function me(): Promise<Me> {
  return api<Me>('GET', '/me');
}
