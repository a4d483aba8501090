import { Inject, Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { APP_CONFIG, AppConfig } from '../config/config';
import { AuditService } from '../audit/audit.service';
import { SessionsRepository } from './sessions.repository';

const BATCH = 1000;
/** Upper bound of one run, so a backlog is worked off over several runs rather than in one long burst. */
const MAX_BATCHES = 200;

/**
 * Deletes what no longer matters, in bounded batches so that no statement holds a long lock:
 * sessions expired or revoked longer ago than one access-token lifetime plus SESSION_RETENTION
 * (so the device history stays visible for a while), and audit events past AUDIT_RETENTION.
 */
@Injectable()
export class HousekeepingService {
  private readonly logger = new Logger(HousekeepingService.name);
  private running = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly sessions: SessionsRepository,
    private readonly audit: AuditService,
  ) {}

  @Cron(CronExpression.EVERY_HOUR)
  async scheduled(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { sessions, events } = await this.run();
      if (sessions || events) this.logger.log(`housekeeping deleted ${sessions} sessions and ${events} audit events`);
    } catch (error) {
      this.logger.warn(`housekeeping failed: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  async run(now = Date.now()): Promise<{ sessions: number; events: number }> {
    const sessionCutoff = now - (this.config.accessTokenTtl + this.config.sessionRetention) * 1000;
    const eventCutoff = now - this.config.auditRetention * 1000;
    let sessions = 0;
    let events = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const n = await this.sessions.deleteStale(sessionCutoff, BATCH);
      sessions += n;
      if (n < BATCH) break;
    }
    for (let i = 0; i < MAX_BATCHES; i++) {
      const n = await this.audit.deleteOlderThan(eventCutoff, BATCH);
      events += n;
      if (n < BATCH) break;
    }
    return { sessions, events };
  }
}
