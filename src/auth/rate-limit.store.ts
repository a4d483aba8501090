import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import Redis from 'ioredis';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** One counter after a hit: how many hits its window has seen, and how long the window has left. */
export interface Hit {
  count: number;
  msLeft: number;
}

/**
 * Fixed-window counters for the rate limits: a window opens at a key's first hit and lasts
 * `windowMs`; every hit in it (allowed or refused) adds one. In memory for one instance, in
 * Redis when REDIS_URL is set so that every instance counts against the same numbers.
 */
export interface CounterStore {
  /** Adds one to the key's counter, atomically, and reports where it stands. */
  hit(key: string, windowMs: number): Promise<Hit>;
  /** Forgets the key's counter (a successful login clears its e-mail's failures). */
  reset(key: string): Promise<void>;
  close(): Promise<void>;
}

export class MemoryCounterStore implements CounterStore {
  private readonly entries = new Map<string, { count: number; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  /** Synchronous inside, so two requests can never both read the same count. */
  async hit(key: string, windowMs: number): Promise<Hit> {
    const now = this.clock();
    let entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= now) {
      entry = { count: 0, expiresAt: now + windowMs };
      this.entries.set(key, entry);
    }
    entry.count += 1;
    return { count: entry.count, msLeft: entry.expiresAt - now };
  }

  async reset(key: string): Promise<void> {
    this.entries.delete(key);
  }

  private sweep(now = this.clock()): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }
}

/** INCR and the window's expiry in one atomic step; a key that somehow lost its TTL gets one. */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

type RedisWithHit = Redis & { latchkeyHit(key: string, windowMs: number): Promise<[number, number]> };

/**
 * Counters shared by every instance through Redis. If Redis cannot be reached, each instance
 * falls back to its own in-memory counters (logged), so limits degrade to per-instance rather
 * than disappear, and logins keep working.
 */
export class RedisCounterStore implements CounterStore {
  private readonly logger = new Logger('RateLimit');
  private readonly redis: RedisWithHit;
  private readonly fallback = new MemoryCounterStore();
  private lastWarning = 0;

  constructor(url: string) {
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 2000,
      commandTimeout: 1000,
    }) as RedisWithHit;
    this.redis.defineCommand('latchkeyHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
    this.redis.on('error', (error: Error) => this.warn(error));
  }

  async hit(key: string, windowMs: number): Promise<Hit> {
    try {
      const [count, msLeft] = await this.redis.latchkeyHit(key, windowMs);
      return { count: Number(count), msLeft: Number(msLeft) };
    } catch (error) {
      this.warn(error as Error);
      return this.fallback.hit(key, windowMs);
    }
  }

  async reset(key: string): Promise<void> {
    await this.fallback.reset(key);
    try {
      await this.redis.del(key);
    } catch (error) {
      this.warn(error as Error);
    }
  }

  private warn(error: Error): void {
    const now = Date.now();
    if (now - this.lastWarning < 10_000) return;
    this.lastWarning = now;
    this.logger.warn(`redis unavailable, rate limits count per instance for now: ${error.message}`);
  }

  async close(): Promise<void> {
    await this.fallback.close();
    // quit() alone would leave a client that never connected reconnecting forever.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}

/**
 * @nestjs/throttler's storage contract over a CounterStore. The limit holds for the rest of
 * the window: the request after the limit and every one after it until the window closes is
 * refused, and `totalHits` keeps counting so the guard can tell the first refusal.
 */
export class CounterThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly store: CounterStore) {}

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const { count, msLeft } = await this.store.hit(key, ttl);
    const seconds = Math.max(1, Math.ceil(msLeft / 1000));
    const isBlocked = count > limit;
    return { totalHits: count, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }
}
