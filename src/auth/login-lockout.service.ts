import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { AuditService } from '../audit/audit.service';
import { normalizeEmail } from '../users/email';
import type { CounterStore } from './rate-limit.store';

/** Injection token of the CounterStore behind both rate limits. */
export const RATE_LIMIT_STORE = Symbol('RATE_LIMIT_STORE');

/** Counter keys: namespaced, fixed length, and no e-mail address or client-chosen text in Redis. */
export function rateLimitKey(prefix: string, kind: 'ip' | 'email', value: string): string {
  return `${prefix}rl:${kind}:${createHash('sha256').update(value).digest('base64url')}`;
}

/**
 * LOGIN_LOCKOUT: failed logins per e-mail address, known or not, so that the answers for an
 * existing and a non-existing account cannot be told apart.
 *
 * Each attempt is counted *before* its password is checked and un-counted only by success, so
 * concurrent guesses cannot all slip past the check: per window, at most `limit` passwords
 * are ever verified for one address. Once the window's allowance is spent, attempts get 429
 * without touching argon2, until the window (opened by the first failure) closes.
 */
@Injectable()
export class LoginLockoutService {
  private readonly logger = new Logger(LoginLockoutService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(RATE_LIMIT_STORE) private readonly store: CounterStore,
    private readonly audit: AuditService,
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
    // One event per address and window: refused attempts are cheap, so they must not become
    // an audit-table flood.
    if (count === lockout.limit + 1) await recordRateLimited(this.audit, this.logger, { kind: 'email', userId, client });
    throw ApiError.tooManyRequests(msLeft / 1000);
  }

  /** A correct password: the address's failures are forgotten. */
  async succeeded(email: string): Promise<void> {
    if (this.config.loginLockout) await this.store.reset(this.key(email));
  }

  private key(email: string): string {
    return rateLimitKey(this.config.redisKeyPrefix, 'email', normalizeEmail(email));
  }
}

/** Audit `rate_limited`; a database outage must not turn a 429 into a 503. */
export async function recordRateLimited(
  audit: AuditService,
  logger: Logger,
  event: { kind: 'ip' | 'email'; userId: string | null; client: ClientContext },
): Promise<void> {
  try {
    await audit.record({ type: 'rate_limited', userId: event.userId, client: event.client, details: { kind: event.kind } });
  } catch (error) {
    logger.warn(`could not record a rate_limited event: ${(error as Error).message}`);
  }
}
