import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import type { ClientContext } from '../common/client-context';
import { AccountLimits } from './account-limits';

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
    private readonly limits: AccountLimits,
  ) {}

  /** Counts this attempt; throws 429 `too_many_requests` (with Retry-After) when the account is locked. */
  attempt(userId: string, client: ClientContext): Promise<void> {
    return this.limits.hit('mfa', this.config.mfaLockout, userId, client);
  }

  async clear(userId: string): Promise<void> {
    if (this.config.mfaLockout) await this.limits.clear('mfa', userId);
  }
}
