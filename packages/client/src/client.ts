import { TabLock, type SessionEndReason, type TabMessage } from './coordination.js';
import { deviceKey, forgetDeviceKey, proof, type DeviceKey } from './dpop.js';
import { SharedStore } from './store.js';

export type Mode = 'cookie' | 'dpop';

export interface ClientOptions {
  /** latchkey's URL. Default: this page's origin. */
  baseUrl?: string;
  /**
   * `cookie` (default): the refresh token is an HttpOnly cookie scripts never see.
   * `dpop`: the session is bound to a non-extractable ES256 key kept in IndexedDB (RFC 9449);
   * its refresh token is useless without that key.
   */
  mode?: Mode;
  /** Shown in the user's device list. */
  deviceName?: string;
  /** Origins (besides latchkey's) whose requests get the access token. Default: none. */
  apiOrigins?: string[];
  /**
   * One tab of the origin keeps a stream open to latchkey (`GET /auth/session/events`) that says
   * when the session is revoked from elsewhere (an admin, a password change on another device,
   * theft detection), so every tab signs out within a second without polling. Default true.
   */
  watchSession?: boolean;
  /** Names the IndexedDB database, the lock and the channel: one session per name and origin. Default `latchkey`. */
  name?: string;
}

export interface SessionInfo {
  userId: string;
  sessionId: string;
  role: string;
  tokenType: 'Bearer' | 'DPoP';
  /** The session's assurance: `aal1`, or `aal2` after a second factor or a passkey (absent on an older latchkey). */
  acr?: string;
}

export interface SignedInUser {
  id: string;
  email: string;
  role: string;
}

/** A second factor: the methods latchkey names in `methods`, and what each one takes. */
export type SecondFactorMethod = 'totp' | 'passkey' | 'recovery_code';
export type SecondFactorAnswer =
  | { method: 'totp' | 'recovery_code'; code: string }
  /** `credential`: the JSON of the WebAuthn assertion (what `@simplewebauthn/browser`'s `startAuthentication` returns). */
  | { method: 'passkey'; credential: unknown };
/** Step-up also takes the password, when the session only needs a fresh `auth_time`. */
export type StepUpAnswer = SecondFactorAnswer | { method: 'password'; password: string };
/** WebAuthn options as latchkey sends them (JSON: base64url strings, not buffers). */
export interface PasskeyOptions {
  publicKey: Record<string, unknown>;
}

/**
 * What `login()` resolves to when the account has a second factor: nothing is signed in yet.
 * Complete it with `verify()` (which may be called again after a wrong code, until latchkey
 * says `invalid_mfa_token`: then start over with `login()`).
 */
export interface PendingSecondStep {
  mfaRequired: true;
  methods: SecondFactorMethod[];
  /** Seconds this second step stays open. */
  expiresIn: number;
  /** The WebAuthn request options for `passkey`, when it is one of the methods. */
  passkey?: PasskeyOptions;
  /** `trustDevice`: remember this browser, so the next login here skips the second step. */
  verify(answer: SecondFactorAnswer & { trustDevice?: boolean }): Promise<SignedInUser>;
}

/** Dispatched when latchkey answers 401 `insufficient_user_authentication` (RFC 9470): the session needs a second factor, or a fresher one. */
export class StepUpRequiredEvent extends Event {
  constructor(
    readonly acrValues: string | null,
    readonly maxAge: number | null,
    /** The request latchkey refused: a GET waits for `stepUp()` and is sent once more; any other method is not repeated. */
    readonly request: { method: string; url: string },
  ) {
    super('stepuprequired');
  }
}

/** Dispatched in every tab when the session ends: `logout` (any tab signed out), `revoked` (latchkey refused it), `key_lost` (DPoP key gone). */
export class SessionEndedEvent extends Event {
  constructor(readonly reason: SessionEndReason) {
    super('sessionended');
  }
}

/** A refused request: latchkey's error body (`error`, `message`), or status 0 and `network`. */
export class LatchkeyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The error an answer carries (its body's `error` and `message` when it has them). */
  static async from(response: Response): Promise<LatchkeyError> {
    let code = 'error';
    let message = `The server answered ${response.status}.`;
    try {
      const body = (await response.json()) as { error?: string; message?: string };
      code = body.error ?? code;
      message = body.message ?? message;
    } catch {
      /* not JSON */
    }
    return new LatchkeyError(response.status, code, message);
  }
}

/** What every tab shares through IndexedDB. Times are this browser's clock, so every tab agrees on them. */
interface SharedSession {
  accessToken: string;
  tokenType: 'Bearer' | 'DPoP';
  /** When the access token expires: receipt time plus `expires_in`, never the token's own `exp`. */
  expiresAt: number;
  lifetimeMs: number;
  sessionId: string;
  userId: string;
  role: string;
  acr?: string;
  /** DPoP mode only: bound to the key, so holding it alone is worth nothing. */
  refreshToken?: string;
}

interface TokenResponse {
  access_token: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  refresh_token?: string;
  session_id: string;
  user?: SignedInUser;
  /** After a second step with `trustDevice` (not in cookie mode): sent with the next logins of this device. */
  trustedDevice?: string;
}

interface SecondStepResponse {
  mfaRequired: true;
  mfaToken: string;
  expiresIn: number;
  methods: SecondFactorMethod[];
  passkey?: PasskeyOptions;
}

const SESSION = 'session';
const DEVICE = 'device-id';
const TRUSTED_DEVICE = 'trusted-device';
/** RFC 9110 §9.2.2: requests that may be sent twice. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * The browser end of a latchkey session. One instance per page; every tab of the origin with
 * the same `name` shares one session: one refresh at a time (Web Locks), its result adopted by
 * every tab, and the end of the session seen by every tab at once (BroadcastChannel).
 */
export class LatchkeyClient extends EventTarget {
  private readonly base: string;
  private readonly mode: Mode;
  private readonly store: SharedStore;
  private readonly channel: BroadcastChannel | null;
  private readonly lock: TabLock;
  private readonly apiOrigins: Set<string>;
  /** The refresh cookie travels to latchkey only; `include` when latchkey is on another origin. */
  private readonly credentials: RequestCredentials;
  private current: SharedSession | null = null;
  private refreshing: Promise<boolean> | null = null;
  private timer?: ReturnType<typeof setTimeout>;
  private watching = false;
  private releaseLeader?: () => void;
  private readonly stopped = new AbortController();
  /** This tab is signing out: the revocation it causes is no news to it. */
  private signingOut = false;
  private stopWatching?: () => void;
  /** Closes the session stream this tab has open or is opening (a sign-out here ends it first). */
  private closeStream?: () => void;
  /** Server time minus this browser's, from the Date header (1 s resolution): for DPoP `iat`. */
  private serverOffset = 0;
  private closed = false;
  /** GETs refused for want of a step-up, waiting for `stepUp()` (true) or `cancelStepUp()` (false). */
  private stepUpWaiters: Array<(done: boolean) => void> = [];
  private stepUpListeners = 0;

  constructor(private readonly options: ClientOptions = {}) {
    super();
    this.base = (options.baseUrl ?? location.origin).replace(/\/$/, '');
    this.mode = options.mode ?? 'cookie';
    const name = options.name ?? 'latchkey';
    this.store = new SharedStore(`${name}:${this.mode}`);
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`${name}:${this.mode}`) : null;
    this.lock = new TabLock(`${name}:${this.mode}:refresh`, this.channel);
    this.credentials = typeof location !== 'undefined' && new URL(this.base).origin === location.origin ? 'same-origin' : 'include';
    this.apiOrigins = new Set([new URL(this.base).origin, ...(options.apiOrigins ?? []).map((o) => new URL(o).origin)]);
    this.channel?.addEventListener('message', (event: MessageEvent<TabMessage>) => void this.heard(event.data));
    if (typeof document !== 'undefined') {
      const onVisible = () => {
        if (document.visibilityState === 'visible' && this.current) void this.check();
      };
      document.addEventListener('visibilitychange', onVisible);
      this.stopWatching = () => document.removeEventListener('visibilitychange', onVisible);
    }
  }

  get signedIn(): boolean {
    return this.current !== null;
  }

  /** The current access token, for a caller that sends its own requests (null when signed out). */
  get accessToken(): string | null {
    return this.current?.accessToken ?? null;
  }

  get session(): SessionInfo | null {
    const c = this.current;
    return c && { userId: c.userId, sessionId: c.sessionId, role: c.role, tokenType: c.tokenType, ...(c.acr ? { acr: c.acr } : {}) };
  }

  /**
   * Signs in this device; every open tab of the origin picks the session up. When the account
   * has a second factor, resolves to a `PendingSecondStep` instead, and nothing is signed in
   * until its `verify()` succeeds.
   */
  async login(email: string, password: string): Promise<SignedInUser | PendingSecondStep> {
    // In cookie mode "remember this browser" is an HttpOnly cookie; otherwise the token kept from the last second step.
    const trustedDevice = this.mode === 'cookie' ? undefined : await this.store.get<string>(TRUSTED_DEVICE);
    const answer = await this.signInRequest('/auth/login', {
      email,
      password,
      deviceId: this.deviceId(),
      ...(this.options.deviceName ? { deviceName: this.options.deviceName } : {}),
      ...(this.mode === 'cookie' ? { useCookie: true } : {}),
      ...(trustedDevice ? { trustedDevice } : {}),
    });
    if (!('mfaRequired' in answer)) return this.signedInWith(answer);
    const { mfaToken, methods, expiresIn, passkey } = answer;
    return {
      mfaRequired: true,
      methods,
      expiresIn,
      ...(passkey ? { passkey } : {}),
      verify: async ({ trustDevice, ...factor }) => {
        const tokens = await this.signInRequest('/auth/mfa/verify', { mfaToken, ...factor, ...(trustDevice ? { trustDevice: true } : {}) });
        if ('mfaRequired' in tokens) throw new LatchkeyError(502, 'error', 'latchkey asked for a second factor again.');
        return this.signedInWith(tokens);
      },
    };
  }

  /** The WebAuthn options for a passkey sign-in (discoverable credentials: no e-mail asked). */
  async passkeyOptions(): Promise<PasskeyOptions> {
    const response = await this.raw(`${this.base}/auth/passkey/options`, {
      method: 'POST',
      credentials: this.credentials,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    if (!response.ok) throw await LatchkeyError.from(response);
    return (await response.json()) as PasskeyOptions;
  }

  /** Signs in with a passkey: `credential` is the JSON of the assertion made from `passkeyOptions()`. */
  async passkeyLogin(credential: unknown): Promise<SignedInUser> {
    const tokens = await this.signInRequest('/auth/passkey/login', {
      credential,
      deviceId: this.deviceId(),
      ...(this.options.deviceName ? { deviceName: this.options.deviceName } : {}),
      ...(this.mode === 'cookie' ? { useCookie: true } : {}),
    });
    if ('mfaRequired' in tokens) throw new LatchkeyError(502, 'error', 'latchkey asked for a second factor after a passkey.');
    return this.signedInWith(tokens);
  }

  /** What this session can step up with: `{methods, passkey?}` (`POST /me/step-up/options`). */
  async stepUpOptions(): Promise<{ methods: Array<SecondFactorMethod | 'password'>; passkey?: PasskeyOptions }> {
    const response = await this.fetch(`${this.base}/me/step-up/options`, { method: 'POST' });
    if (!response.ok) throw await LatchkeyError.from(response);
    return (await response.json()) as { methods: Array<SecondFactorMethod | 'password'>; passkey?: PasskeyOptions };
  }

  /**
   * Raises this session (RFC 9470 step-up): latchkey answers with tokens for the same session,
   * which every tab adopts, and the GETs waiting since a `stepuprequired` event are sent once
   * more. A wrong answer throws and leaves them waiting, so the app can ask again.
   */
  async stepUp(answer: StepUpAnswer): Promise<void> {
    // The step-up rotates the refresh chain: in cookie mode the new link must land in the cookie.
    const body = JSON.stringify({ ...answer, ...(this.mode === 'cookie' ? { useCookie: true } : {}) });
    const response = await this.fetch(`${this.base}/me/step-up`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (!response.ok) throw await LatchkeyError.from(response);
    const tokens = (await response.json()) as TokenResponse;
    await this.lock.run(() => this.accept(tokens));
    this.post({ type: 'tokens' });
    this.settleStepUp(true);
  }

  /** The user declined to step up: the waiting GETs resolve with their 401. */
  cancelStepUp(): void {
    this.settleStepUp(false);
  }

  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    if (type === 'stepuprequired' && listener) this.stepUpListeners++;
    super.addEventListener(type, listener, options);
  }

  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    if (type === 'stepuprequired' && listener) this.stepUpListeners = Math.max(0, this.stepUpListeners - 1);
    super.removeEventListener(type, listener, options);
  }

  /** On page load: picks up the origin's session, refreshing it when it is due. False when there is none. */
  async restore(): Promise<boolean> {
    const shared = await this.store.get<SharedSession>(SESSION);
    // Nothing shared: never signed in here, or signed out (which deletes it in every mode).
    if (!shared) return false;
    if (!this.due(shared)) {
      this.adopt(shared);
      return true;
    }
    return this.refresh();
  }

  /**
   * Signs out: this device (`local`, default), every other one, or all. `local` in cookie mode
   * uses the refresh cookie, so it works even after the access token expired. Every tab of the
   * origin ends its session (but for `others`). True when latchkey confirmed it.
   */
  async logout(scope: 'local' | 'others' | 'global' = 'local'): Promise<boolean> {
    const url = `${this.base}/auth/logout${scope === 'local' ? '' : `?scope=${scope}`}`;
    if (scope === 'others')
      return (
        this.current !== null &&
        (await this.fetch(url, { method: 'POST' }).then(
          (r) => r.ok,
          () => false,
        ))
      );
    // Under the tab lock, the request and the end together: a tab that hears of the revocation
    // (the session stream) meanwhile waits, and then finds the session already ended. This tab's
    // own stream closes first: opened in the same instant, it would present a token the logout
    // has just revoked and be refused (a 401 the page would log).
    this.signingOut = true;
    this.closeStream?.();
    try {
      return await this.lock.run(async () => {
        try {
          const session = this.current;
          if (this.mode === 'cookie' && scope === 'local')
            return (await this.raw(url, { method: 'POST', credentials: this.credentials, headers: { 'x-latchkey-csrf': '1' } })).ok;
          return session !== null && (await this.send(new Request(url, { method: 'POST' }), session)).ok;
        } catch {
          return false;
        } finally {
          await this.endLocked('logout');
        }
      });
    } finally {
      this.signingOut = false;
    }
  }

  /**
   * fetch() with the session's access token (and a DPoP proof) on requests to latchkey and to
   * `apiOrigins`. Refreshes first when the token is due; after a 401 that a refresh cures, sends
   * an idempotent request once more, and never repeats a non-idempotent one by itself.
   */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    if (!this.apiOrigins.has(new URL(request.url).origin)) return fetch(request);
    if (this.current && this.due(this.current)) await this.refresh();
    const session = this.current;
    if (!session) throw new LatchkeyError(401, 'signed_out', 'There is no session: sign in first.');
    const retry = IDEMPOTENT.has(request.method) ? request.clone() : null;
    const response = await this.send(request, session);
    if (response.status !== 401) return response;
    if (wantsStepUp(response)) return this.afterStepUp(response, request, retry);
    if (this.mode === 'dpop' && /invalid_dpop_proof/.test(response.headers.get('www-authenticate') ?? '')) {
      // The proof, not the token: most likely this clock, which the answer's Date has corrected.
      return retry && this.current ? this.send(retry, this.current) : response;
    }
    // Expired or revoked: a refresh tells which (it ends the session everywhere when revoked).
    if (!(await this.refresh(session.accessToken)) || !retry || !this.current) return response;
    // The refreshed session may be the one that now needs a step-up (an aal2 that aged to aal1).
    const last = retry.clone();
    const again = await this.send(retry, this.current);
    return again.status === 401 && wantsStepUp(again) ? this.afterStepUp(again, last, last.clone()) : again;
  }

  /**
   * One refresh for the whole origin: under the tab lock, a tab first looks at what the others
   * did; if one refreshed while it waited, it takes that result instead of spending the chain.
   * `stale`: an access token the caller saw refused; it is replaced even if not yet due. False
   * when the session ended (or latchkey cannot be reached).
   */
  refresh(stale?: string): Promise<boolean> {
    this.refreshing ??= this.lock
      .run(async () => {
        const shared = await this.store.get<SharedSession>(SESSION);
        // Fresh tokens in the shared record (another tab refreshed while this one waited) are
        // taken as they are, unless they are the very ones the caller saw refused.
        if (shared && !this.due(shared) && shared.accessToken !== stale) {
          this.adopt(shared);
          return true;
        }
        // Ended in another tab (whose message says why, if it has not arrived yet): nothing to refresh.
        if (!shared) {
          this.forget('logout');
          return false;
        }
        const refreshToken = shared.refreshToken;
        const url = `${this.base}/auth/token`;
        const form = new URLSearchParams({ grant_type: 'refresh_token', ...(refreshToken ? { refresh_token: refreshToken } : {}) });
        let response: Response;
        try {
          response = await this.withClockRetry(async () =>
            this.raw(url, {
              method: 'POST',
              credentials: this.credentials,
              headers: {
                'content-type': 'application/x-www-form-urlencoded',
                ...(this.mode === 'cookie' ? { 'x-latchkey-csrf': '1' } : {}),
                ...(await this.proofHeader('POST', url)),
              },
              body: form,
            }),
          );
        } catch (error) {
          if (error instanceof KeyLost) return this.endLocked('key_lost');
          return false; // offline: keep the session, try again later
        }
        if (response.ok) {
          await this.accept((await response.json()) as TokenResponse);
          this.post({ type: 'tokens' });
          return true;
        }
        // 400 (invalid_grant, invalid_dpop_proof) or 401: the session is over. Anything else
        // (503, 429) is the server's trouble: keep the session and try again later.
        if (response.status === 400 || response.status === 401) return this.endLocked('revoked');
        this.schedule(5_000);
        return false;
      })
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Stops timers and listeners (the session stays for the other tabs). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.stopped.abort();
    this.releaseLeader?.();
    this.stopWatching?.();
    this.channel?.close();
    this.store.close();
  }

  // ------------------------------------------------------------------ internals

  /** POSTs a sign-in body (with a DPoP proof in that mode); latchkey's answer, or its error thrown. */
  private async signInRequest(path: string, payload: Record<string, unknown>): Promise<TokenResponse | SecondStepResponse> {
    const url = `${this.base}${path}`;
    const body = JSON.stringify(payload);
    // Two tabs signing in at once must not each make (and store) a key of their own.
    if (this.mode === 'dpop') await this.lock.run(() => deviceKey(this.store, true));
    const response = await this.withClockRetry(async () =>
      this.raw(url, {
        method: 'POST',
        credentials: this.credentials,
        headers: { 'content-type': 'application/json', ...(await this.proofHeader('POST', url)) },
        body,
      }),
    );
    if (!response.ok) throw await LatchkeyError.from(response);
    return (await response.json()) as TokenResponse | SecondStepResponse;
  }

  private async signedInWith(tokens: TokenResponse): Promise<SignedInUser> {
    // Rotated at each use: keep the newest (DPoP mode; in cookie mode it is a cookie).
    if (tokens.trustedDevice) await this.store.put(TRUSTED_DEVICE, tokens.trustedDevice);
    await this.lock.run(() => this.accept(tokens));
    this.post({ type: 'tokens' });
    return tokens.user!;
  }

  /**
   * A 401 asking for more assurance: tells the app (`stepuprequired`), and a GET waits for its
   * `stepUp()` and is sent once more. Without a listener, or for a non-idempotent request, the
   * 401 goes back to the caller at once.
   */
  private async afterStepUp(response: Response, request: Request, retry: Request | null): Promise<Response> {
    const challenge = parseChallenge(response.headers.get('www-authenticate'));
    const maxAge = challenge.max_age !== undefined && /^\d+$/.test(challenge.max_age) ? Number(challenge.max_age) : null;
    const waits = retry !== null && request.method === 'GET' && this.stepUpListeners > 0;
    const stepped = waits ? new Promise<boolean>((resolve) => this.stepUpWaiters.push(resolve)) : null;
    this.dispatchEvent(new StepUpRequiredEvent(challenge.acr_values ?? null, maxAge, { method: request.method, url: request.url }));
    if (!stepped || !(await stepped) || !this.current) return response;
    return this.send(retry!, this.current);
  }

  private settleStepUp(done: boolean): void {
    const waiters = this.stepUpWaiters;
    this.stepUpWaiters = [];
    for (const resolve of waiters) resolve(done);
  }

  private async accept(tokens: TokenResponse): Promise<void> {
    const previous = await this.store.get<SharedSession>(SESSION);
    const claims = decodeClaims(tokens.access_token);
    const session: SharedSession = {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      // `exp` is whole seconds, counted from a truncated `iat`: the token may die up to 1 s sooner.
      expiresAt: Date.now() + tokens.expires_in * 1000 - 1000,
      lifetimeMs: tokens.expires_in * 1000,
      sessionId: tokens.session_id,
      userId: claims.sub,
      role: claims.role,
      ...(typeof claims.acr === 'string' ? { acr: claims.acr } : {}),
      ...(this.mode === 'dpop' ? { refreshToken: tokens.refresh_token ?? previous?.refreshToken } : {}),
    };
    await this.store.put(SESSION, session);
    this.adopt(session);
  }

  private adopt(session: SharedSession): void {
    const first = this.current === null;
    this.current = session;
    this.schedule(session.expiresAt - this.margin(session) - Date.now());
    if (first) this.watch();
  }

  /** Refreshes when due, a little jittered so that tabs woken together do not line up at the lock. */
  private schedule(inMs: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.timer = setTimeout(() => void this.refresh(), Math.max(0, inMs) + Math.random() * 250);
  }

  /** Refresh a minute ahead, or at 80% of a short lifetime. */
  private margin(session: SharedSession): number {
    return Math.min(60_000, session.lifetimeMs * 0.2);
  }

  /** Whether the session's access token is within its refresh margin (or past it). */
  private due(session: SharedSession): boolean {
    return session.expiresAt - Date.now() <= this.margin(session);
  }

  /**
   * A token-endpoint request; in DPoP mode once more when only its proof was refused, most likely
   * for this clock, which the answer's Date header has just corrected.
   */
  private async withClockRetry(send: () => Promise<Response>): Promise<Response> {
    const response = await send();
    return this.mode === 'dpop' && (await errorCode(response)) === 'invalid_dpop_proof' ? send() : response;
  }

  /**
   * One tab of the origin (the holder of a lock it keeps while open; every tab without Web
   * Locks) follows the session's event stream, and on `revoked` confirms with a refresh, whose
   * refusal ends the session in every tab.
   */
  private watch(): void {
    if (this.options.watchSession === false || this.watching || this.closed) return;
    this.watching = true;
    if (typeof navigator !== 'undefined' && navigator.locks) {
      void navigator.locks.request(
        `${this.options.name ?? 'latchkey'}:${this.mode}:watch`,
        () =>
          new Promise<void>((resolve) => {
            this.releaseLeader = resolve;
            if (this.closed) resolve();
            else void this.follow();
          }),
      );
    } else void this.follow();
  }

  private async follow(): Promise<void> {
    let backoff = 1000;
    while (!this.closed) {
      if (!this.current || this.signingOut) {
        await pause(500, this.stopped.signal);
        continue;
      }
      let outcome: string | null = null;
      const opened = this.current.accessToken;
      const stream = new AbortController();
      const close = () => stream.abort();
      this.stopped.signal.addEventListener('abort', close, { once: true });
      this.closeStream = close;
      try {
        const response = await this.fetch(`${this.base}/auth/session/events`, { headers: { accept: 'text/event-stream' }, signal: stream.signal });
        if (response.ok && response.body) {
          backoff = 1000;
          outcome = await firstEvent(response.body);
        }
      } catch {
        /* offline, signed out meanwhile, or closing */
      } finally {
        this.stopped.signal.removeEventListener('abort', close);
        if (this.closeStream === close) this.closeStream = undefined;
      }
      if (outcome === 'revoked' && this.current && !this.signingOut) await this.refresh(this.current.accessToken);
      // The token that opened the stream expired; if it is still the current one (timers that
      // stood still, a tab in the background), refresh rather than present it again.
      else if (outcome === 'expired') {
        if (this.current?.accessToken === opened) await this.refresh(opened);
      } else if (!stream.signal.aborted) {
        // A stream this tab closed itself (a sign-out) is no failure to back off from.
        await pause(backoff, this.stopped.signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async check(): Promise<void> {
    try {
      await this.fetch(`${this.base}/auth/session`);
    } catch {
      /* offline, or ended meanwhile */
    }
  }

  private async heard(message: TabMessage): Promise<void> {
    this.lock.heard(message);
    if (message.type === 'tokens') {
      const shared = await this.store.get<SharedSession>(SESSION);
      if (shared) this.adopt(shared);
    } else if (message.type === 'ended') {
      this.forget(message.reason);
    }
  }

  /** Ends the session for every tab; called under the tab lock. */
  private async endLocked(reason: SessionEndReason | null): Promise<false> {
    await this.store.delete(SESSION);
    if (reason === 'key_lost' || (reason === 'logout' && this.mode === 'dpop')) await forgetDeviceKey(this.store);
    if (reason) {
      this.post({ type: 'ended', reason });
      this.forget(reason);
    }
    return false;
  }

  private forget(reason: SessionEndReason): void {
    const had = this.current !== null;
    this.current = null;
    clearTimeout(this.timer);
    this.settleStepUp(false);
    if (had) this.dispatchEvent(new SessionEndedEvent(reason));
  }

  private post(message: TabMessage): void {
    this.channel?.postMessage(message);
  }

  private async send(request: Request, session: SharedSession): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set('authorization', `${session.tokenType} ${session.accessToken}`);
    if (session.tokenType === 'DPoP')
      for (const [k, v] of Object.entries(await this.proofHeader(request.method, request.url, session.accessToken))) headers.set(k, v);
    return this.raw(new Request(request, { headers }));
  }

  /** fetch, learning the server's clock from every answer. */
  private async raw(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const response = await fetch(input, init);
    const date = Date.parse(response.headers.get('date') ?? '');
    if (!Number.isNaN(date)) this.serverOffset = date + 500 - Date.now();
    return response;
  }

  private async proofHeader(method: string, url: string, accessToken?: string): Promise<Record<string, string>> {
    if (this.mode !== 'dpop') return {};
    let key: DeviceKey | null;
    try {
      key = await deviceKey(this.store, false);
    } catch {
      key = null;
    }
    if (!key) throw new KeyLost();
    return { dpop: await proof(key, method, url, Date.now() + this.serverOffset, accessToken) };
  }

  /** A stable id for this browser's installation, so a sign-in again replaces its own session. */
  private deviceId(): string {
    const key = `${this.options.name ?? 'latchkey'}:${DEVICE}`;
    let id = localStorage.getItem(key);
    if (!id || !/^[A-Za-z0-9._:-]{8,64}$/.test(id)) {
      id = `web-${crypto.randomUUID()}`;
      localStorage.setItem(key, id);
    }
    return id;
  }
}

class KeyLost extends Error {}

/** The name of the first event on a Server-Sent Events stream; null when it ends without one. */
async function firstEvent(body: ReadableStream<Uint8Array>): Promise<string | null> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
      const match = /^event: *(\S+)$/m.exec(text);
      if (match) return match[1];
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function decodeClaims(token: string): { sub: string; role: string; acr?: unknown } {
  const part = token.split('.')[1] ?? '';
  const json = atob(
    part
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(part.length / 4) * 4, '='),
  );
  return JSON.parse(json) as { sub: string; role: string; acr?: unknown };
}

/** A 401 that asks for more assurance rather than a new token (RFC 9470). */
function wantsStepUp(response: Response): boolean {
  return parseChallenge(response.headers.get('www-authenticate')).error === 'insufficient_user_authentication';
}

/** The parameters of a `Bearer`/`DPoP` challenge (RFC 6750 §3): `error`, `acr_values`, `max_age`… */
function parseChallenge(header: string | null): Record<string, string> {
  const params: Record<string, string> = {};
  if (!header) return params;
  for (const match of header.matchAll(/([a-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/gi))
    params[match[1].toLowerCase()] = match[2]?.replace(/\\(.)/g, '$1') ?? match[3];
  return params;
}

/** The error code of a refused answer, read from a copy so the caller can still read the body. */
async function errorCode(response: Response): Promise<string | undefined> {
  if (response.ok) return undefined;
  try {
    return ((await response.clone().json()) as { error?: string }).error;
  } catch {
    return undefined;
  }
}

export function createClient(options: ClientOptions = {}): LatchkeyClient {
  return new LatchkeyClient(options);
}
