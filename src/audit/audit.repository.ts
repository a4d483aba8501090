import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
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
