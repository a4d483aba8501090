import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import type { Numeric } from '../database/columns';
import { deleteBatch } from '../database/batched-delete';
import { detailsWithoutPersonalData } from './personal-data';
import type { AuditEventType } from './audit-event.entity';

export interface AuditQuery {
  userId?: string;
  type?: AuditEventType;
  /** The last event of the previous page; newer ones (and it) are skipped. */
  before?: { createdAt: number; id: string } | null;
  limit: number;
}

/** An audit row as read back: details still as stored (JSON text). */
export interface AuditRow {
  id: string;
  type: AuditEventType;
  userId: string | null;
  sessionId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: string | null;
  createdAt: number;
}

/** An audit_events row as the drivers return it (MySQL may give a BIGINT as text). */
interface AuditEventRow {
  id: string;
  type: AuditEventType;
  user_id: string | null;
  session_id: string | null;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: string | null;
  created_at: Numeric;
}

/** Events in one hour-long bucket: `start` is its first millisecond. */
export interface HourCount {
  start: number;
  count: number;
}

export const HOUR_MS = 3_600_000;

const COLUMNS = 'id, type, user_id, session_id, actor_id, ip, user_agent, details, created_at';

/**
 * Reading the audit log: newest first, keyset pagination over (created_at, id), which the
 * indexes IDX_audit_created, IDX_audit_user_created and IDX_audit_type_created serve.
 */
@Injectable()
export class AuditRepository {
  constructor(private readonly database: DatabaseService) {}

  async list(query: AuditQuery): Promise<AuditRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.userId !== undefined) {
      where.push('user_id = ?');
      params.push(query.userId);
    }
    if (query.type !== undefined) {
      where.push('type = ?');
      params.push(query.type);
    }
    if (query.before) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(query.before.createdAt, query.before.createdAt, query.before.id);
    }
    const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
    const rows = await this.database.rows<AuditEventRow>(
      `SELECT ${COLUMNS}
         FROM audit_events
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC
        LIMIT ${limit}`,
      params,
    );
    return rows.map(toAuditRow);
  }

  /**
   * One page of one user's events, oldest first, after `after` (the last row of the previous
   * page): a keyset walk on IDX_audit_user_created, so each page costs the same however far in.
   */
  async pageOfUser(userId: string, after: { createdAt: number; id: string } | null, limit: number): Promise<AuditRow[]> {
    const params: unknown[] = [userId];
    let where = 'user_id = ?';
    if (after) {
      // `created_at >= ?` first: SQLite then starts the index range at the cursor, where the bare
      // OR had it scan the user's events from the oldest on every page (quadratic in the history).
      where += ' AND created_at >= ? AND (created_at > ? OR id > ?)';
      params.push(after.createdAt, after.createdAt, after.id);
    }
    const rows = await this.database.rows<AuditEventRow>(
      `SELECT ${COLUMNS}
         FROM audit_events
        WHERE ${where}
        ORDER BY created_at ASC, id ASC
        LIMIT ${Math.max(1, Math.min(1000, Math.floor(limit)))}`,
      params,
    );
    return rows.map(toAuditRow);
  }

  /**
   * Account deletion: the events about the user, and those they caused, keep their ids, types
   * and times but lose the IP address and user agent, and whatever their details say of an
   * e-mail address, IP or user agent (personal-data.ts). One transaction with the rest of the
   * deletion: only these rows are locked (by the indexes on user_id and actor_id), and nothing
   * else updates an audit row, so holding them until the commit blocks nobody.
   */
  async erasePersonalData(userId: string, db: Db): Promise<number> {
    let changed = 0;
    for (const column of ['user_id', 'actor_id']) {
      changed += await this.database.exec(
        `UPDATE audit_events SET ip = NULL, user_agent = NULL WHERE ${column} = ? AND (ip IS NOT NULL OR user_agent IS NOT NULL)`,
        [userId],
        db,
      );
      // Only details that could hold such data are read back (LIKE is case-insensitive on both databases).
      const rows = await this.database.rows<{ id: string; details: string }>(
        `SELECT id, details FROM audit_events WHERE ${column} = ? AND details IS NOT NULL
            AND (details LIKE '%@%' OR details LIKE '%ip"%' OR details LIKE '%ipaddress"%' OR details LIKE '%agent"%' OR details LIKE '%mail"%')`,
        [userId],
        db,
      );
      for (const row of rows) {
        const details = detailsWithoutPersonalData(row.details);
        if (details !== row.details) changed += await this.database.exec('UPDATE audit_events SET details = ? WHERE id = ?', [details, row.id], db);
      }
    }
    return changed;
  }

  /**
   * Events in [from, to), of one type or all, counted per hour-long bucket starting at `from`;
   * only the buckets that have events, in one statement (IDX_audit_type_created or
   * IDX_audit_created serve the range). A bucket's start is found by remainder, not division:
   * `%` on integers means the same in MySQL, MariaDB and SQLite, where `/` and FLOOR do not.
   */
  async countPerHour(from: number, to: number, type?: AuditEventType): Promise<HourCount[]> {
    const rows = await this.database.rows<{ hour_start: Numeric; n: Numeric }>(
      `SELECT created_at - ((created_at - ?) % ${HOUR_MS}) AS hour_start, COUNT(*) AS n
         FROM audit_events
        WHERE created_at >= ? AND created_at < ?${type === undefined ? '' : ' AND type = ?'}
        GROUP BY hour_start`,
      type === undefined ? [from, from, to] : [from, from, to, type],
    );
    return rows.map((r) => ({ start: Number(r.hour_start), count: Number(r.n) }));
  }

  /** The one deletion audit events ever see: past their retention, in bounded batches. */
  deleteOlderThan(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'audit_events', key: 'id', where: 'created_at < ?', params: [before], orderBy: 'created_at' }, batch);
  }
}

function toAuditRow(r: AuditEventRow): AuditRow {
  return {
    id: r.id,
    type: r.type,
    userId: r.user_id ?? null,
    sessionId: r.session_id ?? null,
    actorId: r.actor_id ?? null,
    ip: r.ip ?? null,
    userAgent: r.user_agent ?? null,
    details: r.details ?? null,
    createdAt: Number(r.created_at),
  };
}
