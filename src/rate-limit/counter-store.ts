import { createHash } from 'node:crypto';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisService } from '../redis/redis.service';

/** One counter after a hit: how many hits its window has seen, and how long the window has left. */
export interface Hit {
  count: number;
  msLeft: number;
}

/**
 * Counter keys: namespaced, fixed length, and no e-mail address or client-chosen text in
 * memory or Redis as such.
 */
export function counterKey(kind: 'ip' | 'email' | 'forgot' | 'mfa' | 'export', value: string): string {
  return `rl:${kind}:${createHash('sha256').update(value).digest('base64url')}`;
}

/** Counters kept in memory at most; past it the oldest windows are dropped first. */
export const MEMORY_COUNTERS_MAX = 100_000;

/**
 * Fixed-window counters in this process: a window opens at a key's first hit and lasts
 * `windowMs`. Memory is bounded whatever the traffic: past MEMORY_COUNTERS_MAX keys, the
 * oldest window is forgotten (Map insertion order), which can only let an attacker who
 * controls 100,000 keys at once reset one of their own counters early.
 */
export class MemoryCounters {
  private readonly entries = new Map<string, { count: number; expiresAt: number }>();

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly max = MEMORY_COUNTERS_MAX,
  ) {}

  /** Synchronous, so two requests can never both read the same count. */
  hit(key: string, windowMs: number): Hit {
    const now = this.clock();
    let entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= now) {
      if (entry) this.entries.delete(key);
      entry = { count: 0, expiresAt: now + windowMs };
      this.entries.set(key, entry);
      this.evict(now);
    }
    entry.count += 1;
    return { count: entry.count, msLeft: entry.expiresAt - now };
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  sweep(now = this.clock()): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  private evict(now: number): void {
    if (this.entries.size <= this.max) return;
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (this.entries.size <= this.max && entry.expiresAt > now) break;
    }
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
 * The counters behind every rate limit: shared by all instances through Redis when REDIS_URL
 * is set, in memory otherwise. If Redis cannot be reached, counting falls back to this
 * instance's memory (logged), so limits degrade to per-instance rather than disappear.
 */
@Injectable()
export class CounterStore implements OnApplicationShutdown {
  private readonly memory = new MemoryCounters();
  private readonly redis: RedisWithHit | null;
  private readonly sweeper: NodeJS.Timeout;

  constructor(@Inject(RedisService) private readonly redisService: RedisService) {
    this.redis = redisService.connect('rate limits (counting per instance until it answers)') as RedisWithHit | null;
    this.redis?.defineCommand('latchkeyHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
    this.sweeper = setInterval(() => this.memory.sweep(), 30_000);
    this.sweeper.unref();
  }

  /** Adds one to the key's counter, atomically, and reports where it stands. */
  async hit(key: string, windowMs: number): Promise<Hit> {
    if (this.redis) {
      try {
        const [count, msLeft] = await this.redis.latchkeyHit(this.redisService.key(key), windowMs);
        return { count: Number(count), msLeft: Number(msLeft) };
      } catch (error) {
        this.redisService.warn('rate limits (counting per instance until it answers)', error as Error);
      }
    }
    return this.memory.hit(key, windowMs);
  }

  /** Forgets the key's counter (a successful login clears its e-mail's failures). */
  async reset(key: string): Promise<void> {
    this.memory.reset(key);
    if (!this.redis) return;
    try {
      await this.redis.del(this.redisService.key(key));
    } catch (error) {
      this.redisService.warn('rate limits', error as Error);
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }
}
