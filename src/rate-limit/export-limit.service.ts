import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { MetricsService } from '../metrics/metrics.service';
import { CounterStore, counterKey } from './counter-store';
import { RateLimitEvents } from './rate-limit-events';

/**
 * EXPORT_RATE_LIMIT: data exports per user (not per address: one export of a long history costs
 * the database a walk over all of it, and a stolen token must not turn that into a load tool).
 * Counted through the shared CounterStore, so the limit holds across instances with Redis.
 */
@Injectable()
export class ExportLimitService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: CounterStore,
    private readonly events: RateLimitEvents,
    private readonly metrics: MetricsService,
  ) {}

  /** Counts this export; throws 429 `too_many_requests` (with Retry-After) past the limit. */
  async attempt(userId: string, client: ClientContext): Promise<void> {
    const limit = this.config.exportRateLimit;
    if (!limit) return;
    const { count, msLeft } = await this.store.hit(counterKey('export', userId), limit.windowSeconds * 1000);
    if (count <= limit.limit) return;
    this.metrics.rateLimited.inc({ kind: 'export' });
    if (count === limit.limit + 1) await this.events.limited('export', userId, client);
    throw ApiError.tooManyRequests(msLeft / 1000);
  }
}
