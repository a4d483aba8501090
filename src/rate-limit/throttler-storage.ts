import type { ThrottlerStorage } from '@nestjs/throttler';
import { CounterStore, counterKey } from './counter-store';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * @nestjs/throttler's storage contract over the CounterStore. The limit holds for the rest of
 * the window: the request after the limit and every one after it until the window closes is
 * refused, and `totalHits` keeps counting so the guard can tell the first refusal.
 */
export class CounterThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly store: CounterStore) {}

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const { count, msLeft } = await this.store.hit(counterKey('ip', key), ttl);
    const seconds = Math.max(1, Math.ceil(msLeft / 1000));
    const isBlocked = count > limit;
    return { totalHits: count, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }
}
