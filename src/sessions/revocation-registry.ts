import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, AppConfig } from '../config/config';
import { SessionsRepository } from './sessions.repository';

/** Prefixed with REDIS_KEY_PREFIX (default `latchkey:`). */
const CHANNEL = 'revoked-sessions';
const SKEW_MS = 60_000;
/**
 * How far back each poll re-reads. A revocation's `revoked_at` is taken before its transaction
 * waits for locks (bounded by DB_TIMEOUT_MS per statement and a few deadlock retries) and by
 * another instance's clock (skew), so a row can appear with a time well behind this poll's.
 * Re-reading two minutes of revocations is a small indexed range scan.
 */
const OVERLAP_MS = 2 * SKEW_MS;

/**
 * Session ids revoked within the last access-token lifetime, in memory, so that the access-token
 * guard answers "is this session revoked?" with a Map lookup and no I/O. Older entries are
 * dropped: every access token of such a session has expired by then, so the map stays small.
 *
 * It is filled from the database at start, updated at once for this instance's revocations,
 * and learns of other instances' revocations by polling the indexed `sessions.revoked_at`
 * (always, as the safety net) and, when REDIS_URL is set, by pub/sub within milliseconds.
 */
@Injectable()
export class RevocationRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationRegistry.name);
  /** session id → when the entry may be forgotten (ms). */
  private readonly revoked = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly channel: string;
  private pollCursor = 0;
  private pollTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private polling = false;
  private publisher?: Redis;
  private subscriber?: Redis;
  private subscribed = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: SessionsRepository,
  ) {
    this.ttlMs = config.accessTokenTtl * 1000 + SKEW_MS;
    this.channel = config.redisKeyPrefix + CHANNEL;
  }

  async onModuleInit(): Promise<void> {
    const now = Date.now();
    this.pollCursor = now - this.ttlMs;
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.config.revocationPollMs);
    this.pollTimer.unref();
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(this.ttlMs, 30_000));
    this.sweepTimer.unref();
    if (this.config.redisUrl) this.connectRedis(this.config.redisUrl);
  }

  isRevoked(sessionId: string): boolean {
    return this.revoked.has(sessionId);
  }

  get size(): number {
    return this.revoked.size;
  }

  /** Records revocations made by this instance and tells the others. */
  announce(sessionIds: string[], revokedAt = Date.now()): void {
    if (sessionIds.length === 0) return;
    this.add(sessionIds, revokedAt);
    this.publisher?.publish(this.channel, JSON.stringify({ ids: sessionIds, at: revokedAt })).catch((error: Error) => {
      this.logger.warn(`revocation fan-out over Redis failed (polling still covers it): ${error.message}`);
    });
  }

  private add(sessionIds: string[], revokedAt: number): void {
    const until = revokedAt + this.ttlMs;
    for (const id of sessionIds) {
      const known = this.revoked.get(id);
      if (known === undefined || known < until) this.revoked.set(id, until);
    }
  }

  private sweep(now = Date.now()): void {
    for (const [id, until] of this.revoked) if (until <= now) this.revoked.delete(id);
  }

  /** Reads revocations since the last poll (with an overlap), from every instance. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const since = this.pollCursor;
      const startedAt = Date.now();
      const rows = await this.repository.revokedSince(since);
      for (const row of rows) this.add([row.id], row.revokedAt);
      this.pollCursor = Math.max(since, startedAt - OVERLAP_MS);
    } catch (error) {
      // The database may be down; access tokens keep verifying, and the next poll catches up.
      this.logger.warn(`revocation poll failed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  /** True once this instance both listens and can publish on the revocation channel. */
  get redisReady(): boolean {
    return this.subscribed && this.publisher?.status === 'ready';
  }

  private connectRedis(url: string): void {
    const options = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
    this.publisher = new Redis(url, options);
    this.subscriber = new Redis(url, { ...options, enableOfflineQueue: true });
    for (const client of [this.publisher, this.subscriber]) {
      client.on('error', (error: Error) => this.logger.warn(`redis: ${error.message}`));
    }
    this.subscriber
      .subscribe(this.channel)
      .then(() => (this.subscribed = true))
      .catch((error: Error) => this.logger.warn(`redis subscribe failed: ${error.message}`));
    this.subscriber.on('message', (_channel: string, message: string) => {
      try {
        const { ids, at } = JSON.parse(message) as { ids: unknown; at: unknown };
        if (Array.isArray(ids) && typeof at === 'number') this.add(ids.filter((id): id is string => typeof id === 'string'), at);
      } catch {
        this.logger.warn('ignored a malformed revocation message');
      }
    });
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.pollTimer);
    clearInterval(this.sweepTimer);
    // quit() alone leaves a client that never connected (Redis down) reconnecting forever,
    // which would keep the process alive after shutdown; disconnect() ends that.
    const close = async (client?: Redis) => {
      if (!client) return;
      if (client.status === 'ready') await client.quit().catch(() => undefined);
      client.disconnect();
    };
    await Promise.all([close(this.publisher), close(this.subscriber)]);
  }
}
