import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPair, JsonWebKey, KeyObject, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { IsNull } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/config';
import { DatabaseService } from '../database/database.service';
import { SigningKey } from './signing-key.entity';

/**
 * RS256: verification (every request, on every resource server) is the hot operation, and
 * RSA verifies about 2× faster than ES256 (bench/jwt-algorithms.ts); its slower signing is
 * paid once per login or refresh. jsonwebtoken has no EdDSA.
 */
export const ACCESS_TOKEN_ALG = 'RS256';
const RELOAD_MS = 60_000;
/** JWKS max-age (discovery.controller.ts) */
export const JWKS_MAX_AGE_S = 300;
/**
 * A new key is published at once but signs only after every resource server's cached JWKS
 * (max-age) and every instance's key list (reload) can have picked it up.
 */
export const ACTIVATION_DELAY_MS = JWKS_MAX_AGE_S * 1000 + RELOAD_MS;
const UNKNOWN_KID_RELOAD_MS = 5_000;
const SKEW_MS = 60_000;

interface LoadedKey {
  kid: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
  jwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
  createdAt: number;
  retiredAt: number | null;
}

/** RFC 7638 thumbprint of an RSA public key. */
function thumbprint(jwk: JsonWebKey): string {
  return createHash('sha256').update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })).digest('base64url');
}

/**
 * Access-token signing keys, shared by every instance through the `signing_keys` table.
 * Keys are parsed into KeyObjects once (a PEM string would be re-parsed on every verify).
 */
@Injectable()
export class SigningKeysService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SigningKeysService.name);
  private byKid = new Map<string, LoadedKey>();
  private jwksJson = '{"keys":[]}';
  private timer?: NodeJS.Timeout;
  private lastUnknownReload = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    if (!this.byKid.size || [...this.byKid.values()].every((k) => k.retiredAt !== null)) {
      await this.rotate();
    }
    this.timer = setInterval(() => void this.reload().catch((e: Error) => this.logger.warn(`key reload failed: ${e.message}`)), RELOAD_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * A key whose retirement is scheduled (a gradual rotation is under way) keeps signing until
   * then, the earliest-retiring first; otherwise the newest unretired key signs.
   */
  get signingKey(): { kid: string; privateKey: KeyObject } {
    const now = Date.now();
    let outgoing: LoadedKey | undefined;
    let newest: LoadedKey | undefined;
    for (const key of this.byKid.values()) {
      if (key.retiredAt === null) newest ??= key;
      else if (key.retiredAt > now && (!outgoing || key.retiredAt < outgoing.retiredAt!)) outgoing = key;
    }
    return outgoing ?? newest ?? this.byKid.values().next().value!;
  }

  /** The public key for a `kid`, or undefined. An unknown kid triggers at most one reload per 5 s. */
  verificationKey(kid: string): KeyObject | undefined {
    const key = this.byKid.get(kid);
    if (key) return key.publicKey;
    const now = Date.now();
    if (now - this.lastUnknownReload > UNKNOWN_KID_RELOAD_MS) {
      this.lastUnknownReload = now;
      void this.reload().catch(() => undefined);
    }
    return undefined;
  }

  /** The JWKS document, precomputed. */
  jwks(): string {
    return this.jwksJson;
  }

  /**
   * Adds a new key. It is in the JWKS at once and takes over signing after ACTIVATION_DELAY_MS,
   * when the older keys retire; they stay in the JWKS one access-token lifetime longer.
   * `immediate` (a suspected key compromise) switches signing now, at the price of a few
   * minutes in which resource servers with a cached JWKS reject the new tokens.
   */
  async rotate(options: { immediate?: boolean } = {}): Promise<string> {
    const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const kid = thumbprint(jwk);
    const now = Date.now();
    await this.database.transaction(async (db) => {
      const repo = db.getRepository(SigningKey);
      if (options.immediate) {
        // Every other key stops signing now, including outgoing ones of an earlier gradual rotation.
        await repo.createQueryBuilder().update().set({ retiredAt: now }).where('retired_at IS NULL OR retired_at > :now', { now }).execute();
      } else {
        await repo.update({ retiredAt: IsNull() }, { retiredAt: now + ACTIVATION_DELAY_MS });
      }
      await repo.insert({
        kid,
        alg: ACCESS_TOKEN_ALG,
        publicKey: JSON.stringify(jwk),
        privateKey: this.seal(privateKey.export({ format: 'der', type: 'pkcs8' }), kid),
        createdAt: now,
        retiredAt: null,
      });
    });
    await this.reload();
    this.logger.log(`new signing key ${kid}`);
    return kid;
  }

  async reload(): Promise<void> {
    const horizon = Date.now() - (this.config.accessTokenTtl * 1000 + SKEW_MS);
    const rows = await this.database.manager
      .getRepository(SigningKey)
      .createQueryBuilder('k')
      .where('k.retired_at IS NULL OR k.retired_at > :horizon', { horizon })
      .orderBy('k.created_at', 'DESC')
      .getMany();
    const next = new Map<string, LoadedKey>();
    for (const row of rows) {
      const known = this.byKid.get(row.kid);
      if (known) {
        next.set(row.kid, { ...known, retiredAt: row.retiredAt });
        continue;
      }
      const jwk = JSON.parse(row.publicKey) as JsonWebKey;
      next.set(row.kid, {
        kid: row.kid,
        publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
        privateKey: createPrivateKey({ key: this.unseal(row.privateKey, row.kid), format: 'der', type: 'pkcs8' }),
        jwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid: row.kid, alg: row.alg, use: 'sig' },
        createdAt: row.createdAt,
        retiredAt: row.retiredAt,
      });
    }
    if (next.size === 0) return;
    // Newest first (the query's order), which is what signingKey walks. If two instances raced to
    // create the first key, both verify.
    this.byKid = next;
    this.jwksJson = JSON.stringify({ keys: [...next.values()].map((k) => k.jwk) });
  }

  /** AES-256-GCM under KEY_ENCRYPTION_KEY, bound to the kid. */
  private seal(plain: Buffer, kid: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.config.keyEncryptionKey, iv);
    cipher.setAAD(Buffer.from(kid));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  private unseal(sealed: string, kid: string): Buffer {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.config.keyEncryptionKey, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(kid));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
    } catch {
      throw new Error(`signing key ${kid} cannot be decrypted: KEY_ENCRYPTION_KEY differs from the one it was sealed with`);
    }
  }
}
