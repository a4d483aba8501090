import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { CounterStore, counterKey } from './counter-store';
import { RateLimitEvents } from './rate-limit-events';
import { MetricsService } from '../metrics/metrics.service';

/**
 * MFA_LOCKOUT: second-factor attempts per account (a login's second step, a step-up). As with
 * LOGIN_LOCKOUT, each attempt is counted before its proof is checked and forgotten only by
 * success, so concurrent guesses cannot slip past: per window, at most `limit` codes are ever
 * checked for one account, whatever number of mfaTokens or sessions they come through.
 */
@Injectable()
export class MfaLockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: CounterStore,
    private readonly events: RateLimitEvents,
    private readonly metrics: MetricsService,
  ) {}

  /** Counts this attempt; throws 429 `too_many_requests` (with Retry-After) when the account is locked. */
  async attempt(userId: string, client: ClientContext): Promise<void> {
    const lockout = this.config.mfaLockout;
    if (!lockout) return;
    const { count, msLeft } = await this.store.hit(counterKey('mfa', userId), lockout.windowSeconds * 1000);
    if (count <= lockout.limit) return;
    this.metrics.rateLimited.inc({ kind: 'mfa' });
    if (count === lockout.limit + 1) await this.events.limited('mfa', userId, client);
    throw ApiError.tooManyRequests(msLeft / 1000);
  }

  async clear(userId: string): Promise<void> {
    if (this.config.mfaLockout) await this.store.reset(counterKey('mfa', userId));
  }
}
