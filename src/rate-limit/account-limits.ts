import { Injectable } from '@nestjs/common';
import type { RateLimit } from '../config/parse';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { MetricsService } from '../metrics/metrics.service';
import { CounterStore, counterKey } from './counter-store';
import { RateLimitEvents } from './rate-limit-events';

/**
 * Limits counted per account over the shared CounterStore (so they hold across instances with
 * Redis): MFA_LOCKOUT (second-factor attempts) and EXPORT_RATE_LIMIT (data exports: one export of
 * a long history walks all of it, and a stolen token must not make that a load tool). Each
 * attempt is counted before its work, so concurrent ones cannot slip past; the first refusal of a
 * window is audited.
 */
@Injectable()
export class AccountLimits {
  constructor(
    private readonly store: CounterStore,
    private readonly events: RateLimitEvents,
    private readonly metrics: MetricsService,
  ) {}

  /** Counts this attempt; throws 429 `too_many_requests` (with Retry-After) past the limit. `null`: the limit is off. */
  async hit(kind: 'mfa' | 'export', limit: RateLimit | null, userId: string, client: ClientContext): Promise<void> {
    if (!limit) return;
    const { count, msLeft } = await this.store.hit(counterKey(kind, userId), limit.windowSeconds * 1000);
    if (count <= limit.limit) return;
    this.metrics.rateLimited.inc({ kind });
    if (count === limit.limit + 1) await this.events.limited(kind, userId, client);
    throw ApiError.tooManyRequests(msLeft / 1000);
  }

  async clear(kind: 'mfa' | 'export', userId: string): Promise<void> {
    await this.store.reset(counterKey(kind, userId));
  }
}
