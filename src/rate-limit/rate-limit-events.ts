import { Injectable, Logger } from '@nestjs/common';
import type { ClientContext } from '../common/client-context';
import { AuditService } from '../audit/audit.service';

/**
 * The `rate_limited` audit event, once per limited key and window (the caller decides when):
 * refused attempts are cheap, so they must not become an audit-table flood. A database
 * outage must not turn a 429 into a 503, so a failure to record is only logged.
 */
@Injectable()
export class RateLimitEvents {
  private readonly logger = new Logger('RateLimit');

  constructor(private readonly audit: AuditService) {}

  async limited(kind: 'ip' | 'email' | 'mfa' | 'export', userId: string | null, client: ClientContext): Promise<void> {
    try {
      await this.audit.record({ type: 'rate_limited', userId, client, details: { kind } });
    } catch (error) {
      this.logger.warn(`could not record a rate_limited event: ${(error as Error).message}`);
    }
  }
}
