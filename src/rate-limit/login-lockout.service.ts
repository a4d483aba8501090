import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { normalizeEmail } from '../common/email';
import { CounterStore, counterKey } from './counter-store';
import { RateLimitEvents } from './rate-limit-events';
import { MetricsService } from '../metrics/metrics.service';

/**
 * LOGIN_LOCKOUT: failed password checks per e-mail address, known or not, so that the answers
 * for an existing and a non-existing account cannot be told apart.
 *
 * Each attempt is counted *before* its password is checked and un-counted only by success, so
 * concurrent guesses cannot all slip past the check: per window, at most `limit` passwords
 * are ever verified for one address. Once the window's allowance is spent, attempts get 429
 * without touching argon2, until the window (opened by the first failure) closes.
 */
@Injectable()
export class LoginLockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: CounterStore,
    private readonly events: RateLimitEvents,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Counts this attempt for the address; throws 429 `too_many_requests` when the address is
   * locked. `userId` (null for an unknown address) only goes into the audit event.
   */
  async attempt(email: string, userId: string | null, client: ClientContext): Promise<void> {
    const lockout = this.config.loginLockout;
    if (!lockout) return;
    const { count, msLeft } = await this.store.hit(this.key(email), lockout.windowSeconds * 1000);
    if (count <= lockout.limit) return;
    this.metrics.rateLimited.inc({ kind: 'email' });
    if (count === lockout.limit + 1) await this.events.limited('email', userId, client);
    throw ApiError.tooManyRequests(msLeft / 1000);
  }

  /** A correct password (or a completed reset): the address's failures are forgotten. */
  async clear(email: string): Promise<void> {
    if (this.config.loginLockout) await this.store.reset(this.key(email));
  }

  private key(email: string): string {
    return counterKey('email', normalizeEmail(email));
  }
}
