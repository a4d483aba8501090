import { AccessTokenCheck, TokenRefusal, screenAccessTokenHeader, type AccessTokenClaims } from './access-token';
import { ProofReplayGuard, ReplayCache, verifyDpopProof, type ReplayStore } from './dpop';
import { InvalidRequestError, InvalidTokenError, ServiceUnavailableError, VerifierConfigurationError, type Scheme } from './errors';
import { RevocationFeed, type FeedError, type Transport } from './feed';
import { HttpStatusError, MAX_TOKEN_LENGTH, basicAuthorization, getJson, looksLikeTokenAttempt, parseAuthorization, sleep } from './http';
import { KeyStore } from './keys';
import { consoleLogger, silentLogger, type Logger } from './logger';
import { RevokedSessions } from './revoked-sessions';
import { RejectedEventError, readSessionRevoked } from './set';

/** How to reach latchkey and how strict to be. Only the first four are required. */
export interface VerifierOptions {
  /** The `iss` of latchkey's tokens, e.g. `https://auth.example.com` (latchkey's `JWT_ISSUER`). */
  issuer: string;
  /** The `aud` tokens must carry (latchkey's `JWT_AUDIENCE`). */
  audience: string;
  /** This resource server's client id, from `resource-servers:add`. Also the `aud` of its feed events. */
  clientId: string;
  /** This resource server's client secret; sent with HTTP Basic (`client_secret_basic`). */
  clientSecret: string;
  /** RFC 8414 metadata. Default: `${issuer}/.well-known/oauth-authorization-server`. */
  metadataUrl?: string;
  /** Seconds of clock difference allowed on `exp` (and on DPoP `iat`). Default 5. */
  clockTolerance?: number;
  /** Milliseconds without a sign of life from the feed after which it counts as stale. Default 60 000. */
  maxStaleness?: number;
  /**
   * What `verify` does while the feed is stale: `'fail-closed'` (default) refuses every token with a
   * 503 {@link ServiceUnavailableError}; `'fail-open'` accepts tokens that are otherwise valid
   * (a session revoked meanwhile is then not refused) and `status()` says it is stale.
   */
  onStale?: 'fail-closed' | 'fail-open';
  /** `'stream'` (default): Server-Sent Events, falling back to long polling; `'poll'`: long polling only. */
  transport?: Transport;
  /** Least milliseconds between two JWKS refetches caused by unknown `kid`s. Default 30 000. */
  jwksCooldown?: number;
  /** Verified tokens remembered, to skip the signature check on repeats. Default 10 000; 0 turns it off. */
  tokenCacheSize?: number;
  /**
   * Longest access-token lifetime in seconds, used to decide how long a revoked session is remembered
   * when the metadata does not publish `access_token_max_lifetime`. Default 3600.
   */
  maxTokenLifetime?: number;
  /**
   * This resource server's public origin, e.g. `https://api.example.com`: a DPoP proof's `htu` must
   * name it. It is configuration, never read from the request (a client chooses its `Host` header).
   * Without it, the origin of the URL each request passes in is used (the adapters build it from the
   * request's protocol and `Host`), and a warning is logged once.
   */
  origin?: string;
  /**
   * DPoP proofs: `maxAge` in seconds of a proof's `iat` (default 60); `replayCacheSize` proof ids
   * remembered in this process (default 50 000); `replayStore`, a store shared by every instance
   * behind one public name (e.g. `redisReplayStore(redis)`), so that a proof used at one cannot be
   * replayed at another.
   */
  dpop?: { maxAge?: number; replayCacheSize?: number; replayStore?: ReplayStore };
  /** Back-off between feed retries, in milliseconds, with jitter. Default `{ minDelay: 500, maxDelay: 30 000 }`. */
  retry?: { minDelay?: number; maxDelay?: number };
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Where warnings and errors go. Default: stderr; `false` for none. */
  logger?: Logger | false;
  /** The clock, in milliseconds since the epoch. Default `Date.now`; for tests. */
  now?: () => number;
}

/** A verified access token's claims: who calls (`sub`), from which session (`sid`), as what (`role`). */
export type { AccessTokenClaims } from './access-token';

/** The request a token came with; needed to check a DPoP proof. */
export interface RequestContext {
  /** The HTTP method, as received (`GET`). */
  method: string;
  /** The absolute URL the client addressed (`https://api.example.com/things?x=1`). */
  url: string;
  /** The `DPoP` header value(s). */
  dpop?: string | string[];
}

export interface VerifyOptions {
  /** The `Authorization` scheme the token came with. Default `'Bearer'`. */
  scheme?: Scheme;
  /** The request, required for DPoP-bound tokens. */
  request?: RequestContext;
}

/** Just enough of an HTTP request for {@link Verifier.authenticate}. */
export interface IncomingRequest {
  method: string;
  /** The absolute URL the client addressed. */
  url: string;
  headers: { authorization?: string | string[]; dpop?: string | string[] };
}

/** For a health endpoint. */
export interface VerifierStatus {
  /** Discovery, keys and the first full read of the feed are done. */
  ready: boolean;
  /**
   * The feed has given no sign of life for more than `maxStaleness` (or never has), or it holds an
   * event this verifier cannot verify yet (a key it could not fetch): `lastError` says which.
   */
  stale: boolean;
  onStale: 'fail-closed' | 'fail-open';
  /** Milliseconds since the feed was last known good; null before its first answer. */
  lagMs: number | null;
  /** When the last revocation event arrived (ISO 8601). */
  lastEventAt: string | null;
  /** The feed position this verifier resumes from. */
  cursor: string | null;
  /** Revoked sessions held in memory now. */
  revokedSessions: number;
  transport: Transport;
  /** The error of the current failure streak (startup or feed); null while everything works. */
  lastError: FeedError | null;
  /** Verified tokens in the cache. */
  cachedTokens: number;
  /** Feed events refused for good (forged, malformed, for another receiver) and skipped, since start. */
  ignoredEvents: number;
}

export interface Verifier {
  /** Resolves once discovery, the JWKS and the first full read of the feed are done. Rejects on a configuration error. */
  ready(): Promise<void>;
  /** Verifies an access token and its session; resolves to its claims or throws a {@link VerifierError}. */
  verify(token: string, options?: VerifyOptions): Promise<AccessTokenClaims>;
  /** Reads `Authorization` (Bearer or DPoP) and `DPoP` from a request, then {@link verify}. */
  authenticate(request: IncomingRequest): Promise<AccessTokenClaims>;
  /** Refetches the JWKS now; keys no longer published stop verifying, cached tokens included. */
  refreshKeys(): Promise<void>;
  status(): VerifierStatus;
  /** Stops the feed, timers and requests. Idempotent. */
  close(): Promise<void>;
}

/** Starts a verifier: discovery, keys and the revocation feed begin at once, in the background. */
export function createVerifier(options: VerifierOptions): Verifier {
  return new LatchkeyVerifier(options);
}

const DEFAULT_TOKEN_LIFETIME_S = 3600;
/** Allowance for clocks of latchkey instances that disagree (latchkey uses the same). */
const ISSUER_SKEW_S = 60;
const METADATA_TIMEOUT_MS = 10_000;
const SWEEP_INTERVAL_MS = 60_000;

interface Metadata {
  jwksUri: string;
  feedEndpoint: string;
  tokenLifetime: number | undefined;
}

class LatchkeyVerifier implements Verifier {
  private readonly settings: Required<
    Pick<VerifierOptions, 'issuer' | 'audience' | 'clientId' | 'clockTolerance' | 'maxStaleness' | 'onStale' | 'transport' | 'jwksCooldown' | 'tokenCacheSize'>
  > & {
    metadataUrl: string;
    authorization: string;
    retry: { minDelay: number; maxDelay: number };
    dpopMaxAge: number;
    origin: string | undefined;
  };
  private readonly fetch: typeof fetch;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly abort = new AbortController();
  private readonly revoked: RevokedSessions;
  private readonly replayCache: ReplayCache;
  private readonly replay: ProofReplayGuard;
  private originWarned = false;
  private lastStoreWarning = Number.NEGATIVE_INFINITY;
  private readonly check: AccessTokenCheck;
  private readonly sweeper: NodeJS.Timeout;
  private readonly starting: Promise<void>;
  private keys: KeyStore | undefined;
  private feed: RevocationFeed | undefined;
  private following: Promise<void> | undefined;
  /** Seconds; raised when a verified token turns out to live longer. */
  private tokenLifetime: number;
  private isReady = false;
  private closed = false;
  private startupError: FeedError | null = null;
  private configurationError: VerifierConfigurationError | undefined;
  private waiters: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private ignoredEvents = 0;
  private staleReported = false;

  constructor(options: VerifierOptions) {
    for (const name of ['issuer', 'audience', 'clientId', 'clientSecret'] as const) {
      if (typeof options[name] !== 'string' || options[name] === '') throw new TypeError(`createVerifier: "${name}" is required`);
    }
    const issuer = options.issuer.replace(/\/+$/, '');
    this.settings = {
      issuer: options.issuer,
      audience: options.audience,
      clientId: options.clientId,
      metadataUrl: options.metadataUrl ?? `${issuer}/.well-known/oauth-authorization-server`,
      authorization: basicAuthorization(options.clientId, options.clientSecret),
      clockTolerance: options.clockTolerance ?? 5,
      maxStaleness: options.maxStaleness ?? 60_000,
      onStale: options.onStale ?? 'fail-closed',
      transport: options.transport ?? 'stream',
      jwksCooldown: options.jwksCooldown ?? 30_000,
      tokenCacheSize: options.tokenCacheSize ?? 10_000,
      retry: { minDelay: options.retry?.minDelay ?? 500, maxDelay: options.retry?.maxDelay ?? 30_000 },
      dpopMaxAge: options.dpop?.maxAge ?? 60,
      origin: options.origin === undefined ? undefined : publicOrigin(options.origin),
    };
    this.fetch = options.fetch ?? globalThis.fetch;
    this.logger = options.logger === false ? silentLogger : (options.logger ?? consoleLogger);
    this.now = options.now ?? Date.now;
    this.tokenLifetime = options.maxTokenLifetime ?? DEFAULT_TOKEN_LIFETIME_S;
    this.revoked = new RevokedSessions(this.now, () => (this.tokenLifetime + this.settings.clockTolerance + ISSUER_SKEW_S) * 1000);
    this.check = new AccessTokenCheck({
      issuer: this.settings.issuer,
      audience: this.settings.audience,
      clockTolerance: this.settings.clockTolerance,
      cacheSize: this.settings.tokenCacheSize,
      now: this.now,
      keyOf: (kid) => this.keys?.get(kid),
      isRevoked: (sessionId) => this.revoked.has(sessionId),
    });
    this.replayCache = new ReplayCache(options.dpop?.replayCacheSize ?? 50_000, this.now);
    this.replay = new ProofReplayGuard(this.replayCache, options.dpop?.replayStore, this.now, (error) => this.replayStoreFailed(error));
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
    this.starting = this.start();
  }

  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The verifier is closed.'));
    if (this.isReady) return Promise.resolve();
    const failure = this.currentConfigurationError();
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async authenticate(request: IncomingRequest): Promise<AccessTokenClaims> {
    const header = request.headers.authorization;
    if (Array.isArray(header)) throw new InvalidRequestError('Send one Authorization header.');
    const credentials = parseAuthorization(header);
    if (!credentials) {
      // RFC 6750 §3.1: a malformed token gets invalid_token; no token at all gets a bare challenge.
      if (looksLikeTokenAttempt(header)) throw new InvalidTokenError('The access token is malformed.', /^dpop/i.test(header!) ? 'DPoP' : 'Bearer');
      throw InvalidTokenError.missing();
    }
    return this.verify(credentials.token, {
      scheme: credentials.scheme,
      request: {
        method: request.method,
        get url() {
          return request.url;
        },
        dpop: request.headers.dpop,
      },
    });
  }

  async verify(token: string, options: VerifyOptions = {}): Promise<AccessTokenClaims> {
    const scheme = options.scheme ?? 'Bearer';
    if (this.closed) throw new ServiceUnavailableError('The token verifier is closed.');
    if (typeof token !== 'string' || token === '') throw InvalidTokenError.missing();
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('The access token is too large.', scheme);
    const keys = this.keys;
    if (!keys?.loaded) throw new ServiceUnavailableError('The token verifier is not ready yet.');

    const verified = this.check.cached(token) ?? (await this.verifyUncached(token, keys));
    const claims = verified instanceof TokenRefusal ? verified : this.check.unlessRevoked(verified);
    if (claims instanceof TokenRefusal) throw new InvalidTokenError(claims.message, scheme);
    if (claims.cnf !== undefined || scheme === 'DPoP') await this.checkBinding(token, claims, scheme, options.request);
    this.checkFeed();
    return claims;
  }

  async refreshKeys(): Promise<void> {
    if (!this.keys) throw new ServiceUnavailableError('The token verifier has not discovered its issuer yet.');
    await this.keys.refresh();
  }

  status(): VerifierStatus {
    const feed = this.feed;
    const lastGoodAt = feed?.lastGoodAt;
    return {
      ready: this.isReady,
      stale: this.isStale(),
      onStale: this.settings.onStale,
      lagMs: lastGoodAt === undefined ? null : Math.max(0, this.now() - lastGoodAt),
      lastEventAt: feed?.lastEventAt === undefined ? null : new Date(feed.lastEventAt).toISOString(),
      cursor: feed?.cursor ?? null,
      revokedSessions: this.revoked.sweep(),
      transport: feed?.mode ?? this.settings.transport,
      lastError: this.startupError ?? feed?.lastError ?? null,
      cachedTokens: this.check.cachedTokens,
      ignoredEvents: this.ignoredEvents,
    };
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.abort.abort();
      clearInterval(this.sweeper);
      this.keys?.close();
      const error = new Error('The verifier was closed before it was ready.');
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    }
    await this.starting;
    await this.following;
  }

  /** The shared check (access-token.ts), after fetching the JWKS again for a kid this verifier does not know yet. */
  private async verifyUncached(token: string, keys: KeyStore): Promise<AccessTokenClaims | TokenRefusal> {
    const header = screenAccessTokenHeader(token);
    if (!(header instanceof TokenRefusal) && !keys.get(header.kid)) await keys.lookup(header.kid);
    const claims = this.check.verifyUncached(token, header);
    if (!(claims instanceof TokenRefusal)) this.learnLifetime(claims);
    return claims;
  }

  private async checkBinding(token: string, claims: AccessTokenClaims, scheme: Scheme, request: RequestContext | undefined): Promise<void> {
    const jkt = claims.cnf?.jkt;
    if (jkt === undefined) {
      if (scheme === 'DPoP') throw new InvalidTokenError('This access token is not DPoP-bound; send it as a Bearer token.', 'DPoP');
      return;
    }
    // RFC 9449 §7.2: a bound token sent as Bearer would let whoever stole it use it.
    if (scheme !== 'DPoP') throw new InvalidTokenError('This access token is DPoP-bound; send it with the DPoP scheme and a proof.', 'DPoP');
    await verifyDpopProof(
      { proof: request?.dpop, method: request?.method ?? '', url: this.proofTarget(request?.url ?? ''), accessToken: token, jkt },
      { maxAge: this.settings.dpopMaxAge, clockTolerance: this.settings.clockTolerance, now: this.now, replay: this.replay },
    );
  }

  /** The URL a proof must name: the request's path at the configured public origin. */
  private proofTarget(url: string): string {
    const origin = this.settings.origin;
    if (origin === undefined) {
      if (!this.originWarned) {
        this.originWarned = true;
        this.logger.warn('DPoP proofs are checked against the URL each request came with; set the verifier\'s "origin" to your public origin', {});
      }
      return url;
    }
    try {
      const { pathname, search } = new URL(url, origin);
      return new URL(pathname + search, origin).href;
    } catch {
      return '';
    }
  }

  private replayStoreFailed(error: Error): void {
    if (this.now() - this.lastStoreWarning < 10_000) return;
    this.lastStoreWarning = this.now();
    this.logger.warn('DPoP replay store unavailable; replays are refused per instance only', { error: error.message });
  }

  private checkFeed(): void {
    if (!this.isStale()) {
      this.staleReported = false;
      return;
    }
    if (!this.staleReported) {
      this.staleReported = true;
      this.logger.warn(
        `revocation feed is stale; ${this.settings.onStale === 'fail-open' ? 'accepting tokens without the revocation check' : 'refusing tokens with 503'}`,
        { lastError: this.status().lastError },
      );
    }
    if (this.settings.onStale === 'fail-closed') throw new ServiceUnavailableError('Session revocations cannot be checked right now; retry shortly.');
  }

  private isStale(): boolean {
    const feed = this.feed;
    const lastGoodAt = feed?.lastGoodAt;
    return lastGoodAt === undefined || feed!.blocked || this.now() - lastGoodAt > this.settings.maxStaleness;
  }

  /** A token living longer than assumed means revocations must be held longer too. */
  private learnLifetime(claims: AccessTokenClaims): void {
    const lifetime = claims.exp - claims.iat;
    if (lifetime <= this.tokenLifetime) return;
    this.logger.warn('access tokens live longer than the configured or published lifetime; holding revocations longer', {
      was: this.tokenLifetime,
      now: lifetime,
    });
    this.tokenLifetime = lifetime;
  }

  private sweep(): void {
    this.revoked.sweep();
    this.replayCache.sweep();
    this.check.sweep();
  }

  private async start(): Promise<void> {
    const metadata = await this.untilDone('discovery', () => this.discover());
    if (!metadata) return;
    if (metadata.tokenLifetime !== undefined) this.tokenLifetime = metadata.tokenLifetime;
    const keys = new KeyStore({
      jwksUri: metadata.jwksUri,
      fetch: this.fetch,
      cooldownMs: this.settings.jwksCooldown,
      now: this.now,
      logger: this.logger,
      signal: this.abort.signal,
    });
    if (!(await this.untilDone('JWKS', () => keys.refresh().then(() => true)))) return;
    this.keys = keys;
    this.feed = new RevocationFeed({
      endpoint: metadata.feedEndpoint,
      authorization: this.settings.authorization,
      fetch: this.fetch,
      transport: this.settings.transport,
      // Long polls must come back well within maxStaleness, or a quiet feed would look stale.
      pollWaitSeconds: Math.max(1, Math.min(25, Math.floor(this.settings.maxStaleness / 2000))),
      retry: this.settings.retry,
      now: this.now,
      logger: this.logger,
      signal: this.abort.signal,
      onEvent: (set) => this.onEvent(set),
      onCaughtUp: () => this.becomeReady(),
      onConfigurationError: (error) => this.rejectWaiters(error),
      onJwksVersion: (version) => {
        // A key was added or revoked at latchkey: refetch, so a revoked key stops verifying here too.
        if (version !== keys.version)
          keys.refresh().catch((error: Error) => this.logger.warn('JWKS refetch after a key change failed', { error: error.message }));
      },
    });
    this.following = this.feed.run();
  }

  /** Retries a startup step with back-off until it succeeds or the verifier closes. */
  private async untilDone<T>(step: string, attempt: () => Promise<T>): Promise<T | undefined> {
    for (let failures = 1; !this.closed; failures++) {
      try {
        const result = await attempt();
        this.startupError = null;
        return result;
      } catch (error) {
        if (this.closed) return undefined;
        const status = error instanceof HttpStatusError || error instanceof VerifierConfigurationError ? error.status : undefined;
        const code = error instanceof VerifierConfigurationError ? error.code : ((error as HttpStatusError).code ?? 'unreachable');
        this.startupError = {
          code,
          message: `${step}: ${(error as Error).message}`,
          ...(status !== undefined && { status }),
          at: new Date(this.now()).toISOString(),
        };
        if (error instanceof VerifierConfigurationError) {
          this.logger.error(`${step} failed: ${error.message}`, { code });
          this.rejectWaiters(error);
        } else {
          this.logger.warn(`${step} failed, retrying`, { error: (error as Error).message, failures });
        }
        const cap =
          error instanceof VerifierConfigurationError
            ? this.settings.retry.maxDelay
            : Math.min(this.settings.retry.maxDelay, this.settings.retry.minDelay * 2 ** (failures - 1));
        await sleep(cap / 2 + (Math.random() * cap) / 2, this.abort.signal);
      }
    }
    return undefined;
  }

  private async discover(): Promise<Metadata> {
    let body: Record<string, unknown>;
    try {
      body = (await getJson(this.fetch, this.settings.metadataUrl, {}, METADATA_TIMEOUT_MS, this.abort.signal)).body as Record<string, unknown>;
    } catch (error) {
      if (error instanceof HttpStatusError && error.status >= 400 && error.status < 500 && error.status !== 429) {
        throw new VerifierConfigurationError(
          `no authorization server metadata at ${this.settings.metadataUrl} (${error.status})`,
          'metadata_unavailable',
          error.status,
        );
      }
      throw error;
    }
    // RFC 8414 §3.3: metadata for another issuer must not be used.
    if (body?.issuer !== this.settings.issuer)
      throw new VerifierConfigurationError(`the metadata is for issuer ${JSON.stringify(body?.issuer)}, not ${this.settings.issuer}`, 'issuer_mismatch');
    if (!isHttpUrl(body.jwks_uri)) throw new VerifierConfigurationError('the metadata has no usable jwks_uri', 'invalid_metadata');
    if (!isHttpUrl(body.session_revocation_feed_endpoint)) {
      throw new VerifierConfigurationError('the metadata has no usable session_revocation_feed_endpoint (latchkey before v2?)', 'invalid_metadata');
    }
    const lifetime = body.access_token_max_lifetime;
    return {
      jwksUri: body.jwks_uri,
      feedEndpoint: body.session_revocation_feed_endpoint,
      tokenLifetime: typeof lifetime === 'number' && Number.isFinite(lifetime) && lifetime > 0 ? lifetime : undefined,
    };
  }

  /**
   * Applies one SET. A SET refused for good (a signature that fails under the key its kid names, or
   * not a SET for this receiver) is skipped and reported: retrying can never make it verify, and
   * holding the feed on it would let whoever slipped it in stop every later revocation. A SET whose
   * key is unknown, or whose JWKS cannot be read, rejects: the feed keeps its cursor before it and
   * retries, and the verifier counts as stale meanwhile.
   */
  private async onEvent(set: string): Promise<void> {
    try {
      const event = await readSessionRevoked(set, {
        issuer: this.settings.issuer,
        audience: this.settings.clientId,
        resolveKey: (kid) => this.keys!.lookupNow(kid),
        now: this.now,
      });
      if (event) this.revoked.add(event.sessionId, event.revokedAt * 1000);
    } catch (error) {
      if (this.closed) return;
      if (!(error instanceof RejectedEventError)) throw error;
      this.ignoredEvents++;
      this.logger.warn('revocation feed: event ignored', { reason: error.message });
    }
  }

  private becomeReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  private rejectWaiters(error: VerifierConfigurationError): void {
    this.configurationError = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  /** A configuration error still in force: the last startup or feed failure was one. */
  private currentConfigurationError(): VerifierConfigurationError | undefined {
    const last = this.startupError ?? this.feed?.lastError;
    return last && this.configurationError && last.code === this.configurationError.code ? this.configurationError : undefined;
  }
}

/** `https://api.example.com` from the `origin` option; anything but a bare http(s) origin is a mistake. */
function publicOrigin(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || value.replace(/\/$/, '').toLowerCase() !== url.origin) {
    throw new TypeError(
      `createVerifier: "origin" must be a public origin such as https://api.example.com (scheme, host and port only), not ${JSON.stringify(value)}`,
    );
  }
  return url.origin;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}
