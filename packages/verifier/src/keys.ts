import { createHash, KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { getJson } from './http';
import type { Logger } from './logger';

/** The algorithms latchkey signs access tokens and SETs with. Never `none`, never HS*. */
export const SIGNING_ALGORITHMS: readonly string[] = ['ES256', 'EdDSA', 'RS256'];

/** One verification key of the JWKS. Kept as the same object while the JWKS keeps it unchanged. */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: CryptoKey;
  /** The same key for node:crypto, which verifies synchronously (jwt.ts). */
  readonly keyObject: KeyObject;
  /** The JWK as published, to recognise an unchanged key across refetches. */
  readonly fingerprint: string;
}

const DEFAULT_MAX_AGE_MS = 300_000;
const MAX_MAX_AGE_MS = 3_600_000;
const FETCH_TIMEOUT_MS = 10_000;

export interface KeyStoreOptions {
  jwksUri: string;
  fetch: typeof fetch;
  /** Least time between two refetches caused by unknown `kid`s. */
  cooldownMs: number;
  now: () => number;
  logger: Logger;
  signal: AbortSignal;
}

/**
 * The issuer's JWKS, cached. It is refetched when its `Cache-Control: max-age` runs out (latchkey
 * rotates keys gradually, assuming caches of at most 300 s), when a token names an unknown `kid`
 * (at most once per cool-down, so junk tokens cannot make it hammer latchkey), and on demand.
 * A refetch replaces the whole set: a key that left the JWKS stops verifying at once.
 */
export class KeyStore {
  private keys = new Map<string, VerificationKey>();
  /**
   * latchkey's version of the key set (its feed announces the current one): a hash of the
   * published kids, so a receiver can tell its JWKS is out of date, e.g. after a key revocation.
   */
  version = '';
  private lastFetchAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: KeyStoreOptions) {}

  /** True once a JWKS was read (a JWKS without one usable key is refused, so never empty then). */
  get loaded(): boolean {
    return this.keys.size > 0;
  }

  get(kid: string): VerificationKey | undefined {
    return this.keys.get(kid);
  }

  /** The key for `kid`, refetching the JWKS when it is unknown and the cool-down allows (junk tokens must not make it hammer latchkey). */
  async lookup(kid: string): Promise<VerificationKey | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
      if (this.keys.has(kid)) return this.keys.get(kid);
    }
    if (this.lastFetchAt + this.options.cooldownMs > this.options.now()) return undefined;
    await this.refresh().catch((error: Error) => this.options.logger.warn('JWKS refetch failed', { error: error.message }));
    return this.keys.get(kid);
  }

  /**
   * The key for a feed event's `kid`: an unknown one is refetched at once, whatever the cool-down
   * (the feed is authenticated, and its own retry back-off paces these); a failed refetch rejects,
   * so the caller can tell "not yet known" from "refused".
   */
  async lookupNow(kid: string): Promise<VerificationKey | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    // A refetch under way may have started before the key was published: wait for it, then fetch again.
    await this.inflight?.catch(() => undefined);
    if (!this.keys.has(kid)) await this.refresh();
    return this.keys.get(kid);
  }

  /** Refetches now, whatever the cool-down; concurrent callers share one request. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetchAt = this.options.now();
    const response = await getJson(this.options.fetch, this.options.jwksUri, {}, FETCH_TIMEOUT_MS, this.options.signal);
    const published = (response.body as { keys?: unknown })?.keys;
    if (!Array.isArray(published)) throw new Error('the JWKS has no "keys" array');
    const next = new Map<string, VerificationKey>();
    for (const jwk of published as JWK[]) {
      const key = await this.importKey(jwk);
      if (key) next.set(key.kid, key);
    }
    if (next.size === 0) throw new Error('the JWKS has no usable signing key');
    this.keys = next;
    const kids = (published as JWK[]).map((jwk) => jwk?.kid).filter((kid): kid is string => typeof kid === 'string');
    this.version = createHash('sha256').update(kids.sort().join(',')).digest('base64url').slice(0, 16);
    this.scheduleRefresh(maxAgeMs(response.headers.get('cache-control')));
  }

  private async importKey(jwk: JWK): Promise<VerificationKey | undefined> {
    if (typeof jwk?.kid !== 'string' || typeof jwk.alg !== 'string' || !SIGNING_ALGORITHMS.includes(jwk.alg)) return undefined;
    if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
    const fingerprint = JSON.stringify(jwk);
    const current = this.keys.get(jwk.kid);
    if (current?.fingerprint === fingerprint) return current;
    try {
      const key = await importJWK(jwk, jwk.alg);
      // A symmetric "key" in a JWKS would turn the public key set into a shared secret: never.
      if (key instanceof Uint8Array || key.type !== 'public') return undefined;
      return { kid: jwk.kid, alg: jwk.alg, key, keyObject: KeyObject.from(key), fingerprint };
    } catch (error) {
      this.options.logger.warn('JWKS key skipped', { kid: jwk.kid, error: (error as Error).message });
      return undefined;
    }
  }

  private scheduleRefresh(ms: number): void {
    clearTimeout(this.timer);
    if (this.options.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.refresh().catch((error: Error) => {
        this.options.logger.warn('scheduled JWKS refresh failed; keeping the keys already known', { error: error.message });
        this.scheduleRefresh(Math.max(this.options.cooldownMs, 1000));
      });
    }, ms);
    this.timer.unref();
  }
}

function maxAgeMs(cacheControl: string | null): number {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl ?? '');
  if (!match) return DEFAULT_MAX_AGE_MS;
  return Math.min(Math.max(Number(match[1]) * 1000, 10_000), MAX_MAX_AGE_MS);
}
