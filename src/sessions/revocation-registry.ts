import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { liveTokenHorizonMs } from '../common/time';
import { RedisService } from '../redis/redis.service';
import { MetricsService } from '../metrics/metrics.service';
import { RevocationLog } from './revocation-log';
import { REVOCATIONS_CHANNEL } from './revocation-fan-out';

/**
 * Session ids revoked within the last access-token lifetime, in memory, so that the access-token
 * guard answers "is this session revoked?" with a Map lookup and no I/O. Older entries are
 * dropped: every access token of such a session has expired by then, so the map stays small.
 *
 * Filled from the revocation log's window at start; then it learns this instance's revocations
 * at once after their commit (announce), other instances' within milliseconds over Redis, and
 * everything (whatever Redis did) from the log, which every instance reads on each poll.
 */
@Injectable()
export class RevocationRegistry implements OnModuleInit, OnApplicationShutdown {
  /** session id → when the entry may be forgotten (ms). */
  private readonly revoked = new Map<string, number>();
  /** session id → who waits to hear that it is revoked (a browser's session event stream). */
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly ttlMs: number;
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly log: RevocationLog,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
  ) {
    this.ttlMs = liveTokenHorizonMs(config);
  }

  async onModuleInit(): Promise<void> {
    await this.log.load();
    for (const event of this.log.window()) this.add([event.sessionId], event.revokedAt);
    this.log.onAdvance((events) => {
      for (const event of events) this.learn(event.sessionId, event.revokedAt);
    });
    this.log.onAnnounced((sessionIds, at) => {
      for (const id of sessionIds) this.learn(id, at);
    });
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(this.ttlMs, 30_000));
    this.sweepTimer.unref();
  }

  isRevoked(sessionId: string): boolean {
    return this.revoked.has(sessionId);
  }

  get size(): number {
    return this.revoked.size;
  }

  /** Revocations this instance committed: effective here at once. */
  announce(sessionIds: string[], revokedAt: number): void {
    this.add(sessionIds, revokedAt);
  }

  /**
   * Calls `revoked` once, when the session is revoked, however this instance learns it (its own
   * commit, Redis, the log); at once if it already is. Returns the unsubscribe.
   */
  watch(sessionId: string, revoked: () => void): () => void {
    if (this.revoked.has(sessionId)) {
      revoked();
      return () => undefined;
    }
    let waiting = this.watchers.get(sessionId);
    if (!waiting) this.watchers.set(sessionId, (waiting = new Set()));
    waiting.add(revoked);
    return () => {
      waiting.delete(revoked);
      if (waiting.size === 0 && this.watchers.get(sessionId) === waiting) this.watchers.delete(sessionId);
    };
  }

  /** True once this instance both listens and can publish on the revocation channel. */
  get redisReady(): boolean {
    return this.redis.fanOutReady(REVOCATIONS_CHANNEL);
  }

  private add(sessionIds: string[], revokedAt: number): void {
    const until = revokedAt + this.ttlMs;
    for (const id of sessionIds) {
      const known = this.revoked.get(id);
      if (known === undefined || known < until) this.revoked.set(id, until);
      const waiting = this.watchers.get(id);
      if (waiting) {
        this.watchers.delete(id);
        for (const revoked of waiting) revoked();
      }
    }
    this.metrics.registrySize.set(this.revoked.size);
  }

  /** A revocation made elsewhere: how long it took to get here is the propagation lag. */
  private learn(sessionId: string, revokedAt: number): void {
    if (!this.revoked.has(sessionId)) this.metrics.propagationLag.observe(Math.max(0, this.clock.now() - revokedAt) / 1000);
    this.add([sessionId], revokedAt);
  }

  private sweep(now = this.clock.now()): void {
    for (const [id, until] of this.revoked) if (until <= now) this.revoked.delete(id);
    this.metrics.registrySize.set(this.revoked.size);
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweepTimer);
  }
}
