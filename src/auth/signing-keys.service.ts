import { createHash, createPrivateKey, createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { TokenKey } from '@latchkey/verifier';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { Db, DatabaseService } from '../database/database.service';
import { RedisService } from '../redis/redis.service';
import { generateSigningKey, publicJwk, SigningAlg, SIGNING_ALGS, thumbprint } from '../common/jws';
import * as sealed from '../common/sealed';
import { liveTokenHorizonMs } from '../common/time';
import { SigningKeysRepository } from './signing-keys.repository';

/** Every instance reloads its keys at least this often (and as soon as the table changes, see watch()). */
const RELOAD_MS = 60_000;
/** JWKS max-age (discovery.controller.ts) */
export const JWKS_MAX_AGE_S = 300;
/**
 * A new key is published at once but signs only after every resource server's cached JWKS
 * (max-age) and every instance's key list (reload) can have picked it up.
 */
export const ACTIVATION_DELAY_MS = JWKS_MAX_AGE_S * 1000 + RELOAD_MS;
/** Prefixed with REDIS_KEY_PREFIX: "the signing keys changed", so other instances reload at once. */
const KEYS_CHANNEL = 'signing-keys';

interface LoadedKey {
  kid: string;
  alg: SigningAlg;
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** The same object for as long as the key stays loaded: the access-token check's cache compares identities. */
  verification: VerificationKey;
  jwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
  createdAt: number;
  retiredAt: number | null;
}

/** A verification key: its kid, the algorithm a token's header must name, and the key; one object per loaded key. */
export type VerificationKey = TokenKey;

/**
 * Access-token signing keys, shared by every instance through the `signing_keys` table.
 * Keys are parsed into KeyObjects once (a PEM string would be re-parsed on every verify). The
 * algorithm is per key, so a change of JWT_ALG is an ordinary gradual rotation: old tokens keep
 * verifying with their own key and algorithm until they expire.
 */
@Injectable()
export class SigningKeysService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SigningKeysService.name);
  private byKid = new Map<string, LoadedKey>();
  private jwksJson = '{"keys":[]}';
  private jwksVersion = '';
  private readonly listeners = new Set<() => void>();
  private reloadTimer?: NodeJS.Timeout;
  private watchTimer?: NodeJS.Timeout;
  private tableState = '';

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly keys: SigningKeysRepository,
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    const current = [...this.byKid.values()].find((k) => k.retiredAt === null);
    if (!current) {
      await this.rotate({ immediate: true });
    } else if (current.alg !== this.config.jwtAlg) {
      // JWT_ALG changed: a gradual rotation to a key of the new algorithm.
      this.logger.log(`JWT_ALG is ${this.config.jwtAlg} but the current key is ${current.alg}: rotating`);
      await this.rotate();
    }
    this.reloadTimer = setInterval(() => void this.reload().catch((e: Error) => this.logger.warn(`key reload failed: ${e.message}`)), RELOAD_MS);
    this.reloadTimer.unref();
    this.watchTimer = setInterval(() => void this.watch(), this.config.revocationPollMs);
    this.watchTimer.unref();
    this.redis.subscribe(KEYS_CHANNEL, () => void this.reload().catch(() => undefined));
  }

  onApplicationShutdown(): void {
    clearInterval(this.reloadTimer);
    clearInterval(this.watchTimer);
  }

  /** Called whenever the key set changes (the feed tells resource servers to refetch the JWKS). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A key whose retirement is scheduled (a gradual rotation is under way) keeps signing until
   * then, the earliest-retiring first; otherwise the newest unretired key signs.
   */
  get signingKey(): { kid: string; alg: SigningAlg; privateKey: KeyObject } {
    const now = this.clock.now();
    let outgoing: LoadedKey | undefined;
    let newest: LoadedKey | undefined;
    for (const key of this.byKid.values()) {
      if (key.retiredAt === null) newest ??= key;
      else if (key.retiredAt > now && (!outgoing || key.retiredAt < outgoing.retiredAt!)) outgoing = key;
    }
    return outgoing ?? newest ?? this.byKid.values().next().value!;
  }

  /**
   * The key for a `kid`, or undefined (unknown, retired long ago, or revoked). A lookup only: the
   * kid comes from the caller, so it must not be able to start I/O. A key made elsewhere arrives
   * over Redis at once, or with the next watch (REVOCATION_POLL_MS).
   */
  verificationKey(kid: string): VerificationKey | undefined {
    return this.byKid.get(kid)?.verification;
  }

  /** The JWKS document, precomputed. */
  jwks(): string {
    return this.jwksJson;
  }

  /** Changes whenever the set of keys in the JWKS changes (resource servers compare it with theirs). */
  get version(): string {
    return this.jwksVersion;
  }

  /**
   * Adds a new key (of JWT_ALG, unless told otherwise). It is in the JWKS at once and takes over
   * signing after ACTIVATION_DELAY_MS, when the older keys retire; they stay in the JWKS one
   * access-token lifetime longer. `immediate` switches signing now, at the price of a few
   * minutes in which resource servers with a cached JWKS do not know the new key yet.
   */
  async rotate(options: { immediate?: boolean; alg?: SigningAlg } = {}): Promise<string> {
    const kid = await this.database.transaction((db) => this.insertKey(options, db));
    await this.changed();
    this.logger.log(`new signing key ${kid}`);
    return kid;
  }

  /**
   * Takes a key out of service at once (a suspected compromise): out of the JWKS and of
   * verification here now, on every other instance within REVOCATION_POLL_MS (milliseconds with
   * Redis), and at resource servers as soon as their verifier refetches the JWKS, which the
   * revocation feed tells it to. Every token it signed stops working; clients refresh. If it
   * was signing, a new key takes over immediately.
   */
  async revoke(kid: string): Promise<{ replacement: string | null }> {
    const replacement = await this.database.transaction(async (db) => {
      const key = await this.keys.find(kid, db);
      if (!key || key.revokedAt !== null) throw new Error(`no signing key ${kid} in service`);
      const now = this.clock.now();
      const signsNow = (await this.keys.signingAt(now, db)).some((k) => k.kid === kid);
      const next = signsNow ? await this.insertKey({ immediate: true }, db) : null;
      await this.keys.markRevoked(kid, now, key.retiredAt ?? now, db);
      return next;
    });
    await this.changed();
    this.logger.warn(`signing key ${kid} revoked${replacement ? `; ${replacement} signs from now on` : ''}`);
    return { replacement };
  }

  private async insertKey(options: { immediate?: boolean; alg?: SigningAlg }, db: Db): Promise<string> {
    const alg = options.alg ?? this.config.jwtAlg;
    const { publicKey, privateKey } = await generateSigningKey(alg);
    const jwk = publicJwk(publicKey);
    const kid = thumbprint(jwk);
    const now = this.clock.now();
    // Immediate: every other key stops signing now, including outgoing ones of an earlier gradual rotation.
    if (options.immediate) await this.keys.retireAllNow(now, db);
    else await this.keys.scheduleRetirement(now + ACTIVATION_DELAY_MS, db);
    await this.keys.insert(
      {
        kid,
        alg,
        publicKey: JSON.stringify(jwk),
        privateKey: this.seal(privateKey.export({ format: 'der', type: 'pkcs8' }), kid),
        createdAt: now,
        retiredAt: null,
        revokedAt: null,
      },
      db,
    );
    return kid;
  }

  /** After a change made here: reload, and tell the other instances. */
  private async changed(): Promise<void> {
    await this.reload();
    this.redis.publish(KEYS_CHANNEL, this.jwksVersion);
  }

  /** Every poll: a cheap look at the table; a full reload only when it changed (another instance, or the CLI). */
  private async watch(): Promise<void> {
    try {
      if ((await this.keys.tableState()) !== this.tableState) await this.reload();
    } catch (error) {
      this.logger.warn(`key watch failed: ${(error as Error).message}`);
    }
  }

  async reload(): Promise<void> {
    const horizon = this.clock.now() - liveTokenHorizonMs(this.config);
    const tableState = await this.keys.tableState();
    const rows = await this.keys.verifying(horizon);
    const next = new Map<string, LoadedKey>();
    for (const row of rows) {
      if (!SIGNING_ALGS.includes(row.alg as SigningAlg)) continue;
      const known = this.byKid.get(row.kid);
      if (known) {
        next.set(row.kid, { ...known, retiredAt: row.retiredAt });
        continue;
      }
      const jwk = JSON.parse(row.publicKey) as JsonWebKey;
      const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
      next.set(row.kid, {
        kid: row.kid,
        alg: row.alg as SigningAlg,
        publicKey,
        verification: Object.freeze({ kid: row.kid, alg: row.alg, keyObject: publicKey }),
        privateKey: createPrivateKey({ key: this.unseal(row.privateKey, row.kid), format: 'der', type: 'pkcs8' }),
        jwk: { ...publicJwk(createPublicKey({ key: jwk, format: 'jwk' })), kid: row.kid, alg: row.alg, use: 'sig' },
        createdAt: row.createdAt,
        retiredAt: row.retiredAt,
      });
    }
    this.tableState = tableState;
    if (next.size === 0) return;
    // Newest first (the query's order), which is what signingKey walks. If two instances raced to
    // create the first key, both verify.
    const before = this.jwksVersion;
    this.byKid = next;
    this.jwksJson = JSON.stringify({ keys: [...next.values()].map((k) => k.jwk) });
    this.jwksVersion = createHash('sha256')
      .update([...next.keys()].sort().join(','))
      .digest('base64url')
      .slice(0, 16);
    if (before && before !== this.jwksVersion) for (const listener of this.listeners) listener();
  }

  /** Under KEY_ENCRYPTION_KEY, bound to the kid. */
  private seal(plain: Buffer, kid: string): string {
    return sealed.seal(this.config.keyEncryptionKey, plain, kid);
  }

  private unseal(box: string, kid: string): Buffer {
    try {
      return sealed.unseal(this.config.keyEncryptionKey, box, kid);
    } catch {
      throw new Error(`signing key ${kid} cannot be decrypted: KEY_ENCRYPTION_KEY differs from the one it was sealed with`);
    }
  }
}
