import { Inject, Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { APP_CONFIG, AppConfig } from '../config/config';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { liveTokenHorizonMs } from '../common/time';
import { inBatches } from '../common/batches';
import { RevocationLog } from './revocation-log';
import { SessionsRepository } from './sessions.repository';

/**
 * Deletes what no longer matters, in bounded batches so that no statement holds a long lock:
 * sessions expired or revoked longer ago than one access-token lifetime plus SESSION_RETENTION
 * (so the device history stays visible for a while), audit events past AUDIT_RETENTION, and
 * revocation-log entries older than one access-token lifetime (the feed's window).
 */
@Injectable()
export class HousekeepingService {
  private readonly logger = new Logger(HousekeepingService.name);
  private running = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly sessions: SessionsRepository,
    private readonly audit: AuditService,
    private readonly log: RevocationLog,
    private readonly clock: Clock,
  ) {}

  @Cron(CronExpression.EVERY_HOUR)
  async scheduled(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { sessions, events, revocations } = await this.run();
      if (sessions || events || revocations)
        this.logger.log(`housekeeping deleted ${sessions} sessions, ${events} audit events and ${revocations} revocation-log entries`);
    } catch (error) {
      this.logger.warn(`housekeeping failed: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  async run(now = this.clock.now()): Promise<{ sessions: number; events: number; revocations: number }> {
    // A revocation stops mattering once every access token of its session has expired.
    const tokensExpired = now - liveTokenHorizonMs(this.config);
    return {
      sessions: await inBatches((n) => this.sessions.deleteStale(tokensExpired - this.config.sessionRetention * 1000, n)),
      events: await inBatches((n) => this.audit.deleteOlderThan(now - this.config.auditRetention * 1000, n)),
      revocations: await inBatches((n) => this.log.deleteOlderThan(tokensExpired, n)),
    };
  }
}
