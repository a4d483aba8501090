import { Injectable } from '@nestjs/common';
import { uuidv7 } from '../common/ids';
import { Clock } from '../common/clock';
import { Db, DatabaseService } from '../database/database.service';
import { AuditEvent, AuditEventType } from './audit-event.entity';
import { AuditQuery, AuditRepository, AuditRow, HOUR_MS, HourCount } from './audit.repository';
import type { ClientContext } from '../common/client-context';

export interface AuditInput {
  type: AuditEventType;
  userId?: string | null;
  sessionId?: string | null;
  actorId?: string | null;
  client?: ClientContext | null;
  details?: Record<string, unknown> | null;
}

/** An audit row as the service answers it: details parsed from their JSON text. */
export type AuditEventRecord = Omit<AuditRow, 'details'> & { details: Record<string, unknown> | null };

/**
 * Security events, append-only: this service inserts and reads; the one change a row ever sees
 * is the erasure of a deleted account's personal data (erasePersonalData).
 */
@Injectable()
export class AuditService {
  constructor(
    private readonly database: DatabaseService,
    private readonly repository: AuditRepository,
    private readonly clock: Clock,
  ) {}

  /** Records events; pass the transaction's `db` when they must commit or roll back with it. */
  async record(events: AuditInput | AuditInput[], db: Db = this.database.manager): Promise<void> {
    const list = Array.isArray(events) ? events : [events];
    if (list.length === 0) return;
    const now = this.clock.now();
    const rows = list.map((e) => ({
      id: uuidv7(now),
      type: e.type,
      userId: e.userId ?? null,
      sessionId: e.sessionId ?? null,
      actorId: e.actorId ?? null,
      ip: e.client?.ip ?? null,
      userAgent: e.client?.userAgent ?? null,
      details: e.details ? JSON.stringify(e.details) : null,
      createdAt: now,
    }));
    await db.getRepository(AuditEvent).insert(rows);
  }

  /** Events newest first, one page (keyset over created_at, id); details are parsed from their JSON text. */
  async list(query: AuditQuery): Promise<AuditEventRecord[]> {
    return (await this.repository.list(query)).map(parsed);
  }

  /**
   * Every event of one user, oldest first, one bounded page at a time (keyset over created_at,
   * id): memory holds one page whatever the user's history. The walk stops when the consumer
   * does (a `return` from its for-await ends the generator before the next query).
   */
  async *pagesOfUser(userId: string, pageSize = 1000): AsyncGenerator<AuditEventRecord[]> {
    let after: { createdAt: number; id: string } | null = null;
    for (;;) {
      const rows = await this.repository.pageOfUser(userId, after, pageSize);
      if (rows.length === 0) return;
      yield rows.map(parsed);
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1];
    }
  }

  /** Account deletion, inside its transaction: the user's events keep their ids but lose e-mail, IP and user agent. */
  erasePersonalData(userId: string, db: Db): Promise<number> {
    return this.repository.erasePersonalData(userId, db);
  }

  /**
   * Events in [from, to) per hour, every hour from `from` on (the last one ends at `to`), the
   * hours without events as zero: one grouped statement, whatever the number of events.
   */
  async countPerHour(from: number, to: number, type?: AuditEventType): Promise<HourCount[]> {
    const counted = new Map((await this.repository.countPerHour(from, to, type)).map((h) => [h.start, h.count]));
    const hours = Math.ceil((to - from) / HOUR_MS);
    return Array.from({ length: hours }, (_, i) => ({ start: from + i * HOUR_MS, count: counted.get(from + i * HOUR_MS) ?? 0 }));
  }

  /** Housekeeping: one bounded batch of events older than `before`. */
  deleteOlderThan(before: number, batch: number): Promise<number> {
    return this.repository.deleteOlderThan(before, batch);
  }
}

function parsed(row: AuditRow): AuditEventRecord {
  return { ...row, details: parseDetails(row.details) };
}

function parseDetails(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return null;
  }
}
