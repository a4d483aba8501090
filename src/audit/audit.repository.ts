import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
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
    if (query.userId !== undefined) (where.push('user_id = ?'), params.push(query.userId));
    if (query.type !== undefined) (where.push('type = ?'), params.push(query.type));
    if (query.before) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(query.before.createdAt, query.before.createdAt, query.before.id);
    }
    const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
    const rows = await this.database.rows<Record<string, unknown>>(
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
    const rows = await this.database.rows<Record<string, unknown>>(
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
      changed += await this.database.exec(`UPDATE audit_events SET ip = NULL, user_agent = NULL WHERE ${column} = ? AND (ip IS NOT NULL OR user_agent IS NOT NULL)`, [userId], db);
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

  /** The one deletion audit events ever see: past their retention, in bounded batches. */
  async deleteOlderThan(before: number, batch: number): Promise<number> {
    const rows = await this.database.rows<{ id: string }>(`SELECT id FROM audit_events WHERE created_at < ? ORDER BY created_at LIMIT ${Number(batch)}`, [before]);
    if (rows.length === 0) return 0;
    return this.database.exec(
      `DELETE FROM audit_events WHERE id IN (${rows.map(() => '?').join(', ')})`,
      rows.map((r) => r.id),
    );
  }
}

function toAuditRow(r: Record<string, unknown>): AuditRow {
  return {
    id: r.id as string,
    type: r.type as AuditEventType,
    userId: (r.user_id as string | null) ?? null,
    sessionId: (r.session_id as string | null) ?? null,
    actorId: (r.actor_id as string | null) ?? null,
    ip: (r.ip as string | null) ?? null,
    userAgent: (r.user_agent as string | null) ?? null,
    details: (r.details as string | null) ?? null,
    createdAt: Number(r.created_at),
  };
}
