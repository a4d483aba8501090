import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { RevokeReason, Session } from './session.entity';

/** What a refresh needs, read in one statement: the session's chain state and its user's standing. */
export interface RefreshRow {
  id: string;
  userId: string;
  deviceId: string;
  generation: number;
  rotatedAt: number | null;
  salt: string;
  revokedAt: number | null;
  expiresAt: number;
  idleExpiresAt: number;
  role: 'user' | 'admin';
  disabledAt: number | null;
}

export interface SessionScope {
  userId?: string;
  sessionId?: string;
  /** "Every session but this one": logout ?scope=others, password change. */
  excludeId?: string;
  deviceId?: string;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The only place that knows the sessions table's SQL. The refresh path uses raw, bound
 * statements: one indexed read and one conditional update per rotation.
 */
@Injectable()
export class SessionsRepository {
  constructor(private readonly database: DatabaseService) {}

  async findForRefresh(id: string): Promise<RefreshRow | null> {
    const rows = await this.database.rows<Record<string, unknown>>(
      `SELECT s.id, s.user_id, s.device_id, s.generation, s.rotated_at, s.salt, s.revoked_at, s.expires_at,
              s.idle_expires_at, u.role, u.disabled_at
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ?`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id as string,
      userId: r.user_id as string,
      deviceId: r.device_id as string,
      generation: Number(r.generation),
      rotatedAt: num(r.rotated_at),
      salt: r.salt as string,
      revokedAt: num(r.revoked_at),
      expiresAt: Number(r.expires_at),
      idleExpiresAt: Number(r.idle_expires_at),
      role: r.role as 'user' | 'admin',
      disabledAt: num(r.disabled_at),
    };
  }

  /**
   * Compare-and-swap: advances the chain only if nobody else did since we read it. Returns
   * false when another request won the race (or the session was revoked meanwhile).
   */
  async rotate(id: string, fromGeneration: number, now: number, idleExpiresAt: number): Promise<boolean> {
    const affected = await this.database.exec(
      `UPDATE sessions SET generation = ?, rotated_at = ?, last_used_at = ?, idle_expires_at = ?
        WHERE id = ? AND generation = ? AND revoked_at IS NULL`,
      [fromGeneration + 1, now, now, idleExpiresAt, id, fromGeneration],
    );
    return affected === 1;
  }

  async insert(session: Session, db: Db): Promise<void> {
    await db.getRepository(Session).insert(session);
  }

  /**
   * Locks the user row for the enclosing transaction (SQLite transactions are queued instead),
   * serialising concurrent logins, and returns the user's standing as of that lock.
   */
  async lockUser(userId: string, db: Db): Promise<{ disabledAt: number | null; passwordHash: string } | null> {
    const rows = await db.query(`SELECT disabled_at, password_hash FROM users WHERE id = ?${this.database.sqlite ? '' : ' FOR UPDATE'}`, [userId]);
    return rows[0] ? { disabledAt: num(rows[0].disabled_at), passwordHash: rows[0].password_hash as string } : null;
  }

  /** Ids of not-yet-revoked sessions in scope, locked for the enclosing transaction. */
  async unrevokedIds(scope: SessionScope, db: Db): Promise<Array<{ id: string; userId: string }>> {
    const where: string[] = ['revoked_at IS NULL'];
    const params: unknown[] = [];
    if (scope.userId !== undefined) (where.push('user_id = ?'), params.push(scope.userId));
    if (scope.sessionId !== undefined) (where.push('id = ?'), params.push(scope.sessionId));
    if (scope.excludeId !== undefined) (where.push('id <> ?'), params.push(scope.excludeId));
    if (scope.deviceId !== undefined) (where.push('device_id = ?'), params.push(scope.deviceId));
    const lock = this.database.sqlite ? '' : ' FOR UPDATE';
    const rows = await db.query(`SELECT id, user_id FROM sessions WHERE ${where.join(' AND ')}${lock}`, params);
    return rows.map((r: Record<string, unknown>) => ({ id: r.id as string, userId: r.user_id as string }));
  }

  /** Active sessions of a user beyond which a new one would exceed the limit, least recently used first. */
  async leastRecentlyUsedActive(userId: string, now: number, keep: number, db: Db): Promise<Array<{ id: string; userId: string }>> {
    const rows = await db.query(
      `SELECT id, user_id FROM sessions
        WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
        ORDER BY last_used_at DESC, id DESC`,
      [userId, now, now],
    );
    return rows.slice(keep).map((r: Record<string, unknown>) => ({ id: r.id as string, userId: r.user_id as string }));
  }

  async markRevoked(ids: string[], reason: RevokeReason, now: number, db: Db): Promise<number> {
    if (ids.length === 0) return 0;
    const placeholders = ids.map(() => '?').join(', ');
    return this.database.exec(
      `UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL AND id IN (${placeholders})`,
      [now, reason, ...ids],
      db,
    );
  }

  async listForUser(userId: string, opts: { includeRevoked: boolean; now: number }): Promise<Session[]> {
    const qb = this.database.manager.getRepository(Session).createQueryBuilder('s').where('s.user_id = :userId', { userId });
    if (!opts.includeRevoked) {
      qb.andWhere('s.revoked_at IS NULL AND s.expires_at > :now AND s.idle_expires_at > :now', { now: opts.now });
    }
    return qb.orderBy('s.last_used_at', 'DESC').addOrderBy('s.id', 'DESC').limit(1000).getMany();
  }

  findById(id: string): Promise<Session | null> {
    return this.database.manager.getRepository(Session).findOneBy({ id });
  }

  async revokedSince(since: number): Promise<Array<{ id: string; revokedAt: number }>> {
    const rows = await this.database.rows<Record<string, unknown>>('SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?', [since]);
    return rows.map((r) => ({ id: r.id as string, revokedAt: Number(r.revoked_at) }));
  }

  /** Housekeeping: one bounded batch of sessions that stopped mattering before `before`. */
  async deleteStale(before: number, batch: number): Promise<number> {
    const rows = await this.database.rows<{ id: string }>(
      `SELECT id FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < ?) OR expires_at < ? OR idle_expires_at < ? LIMIT ${Number(batch)}`,
      [before, before, before],
    );
    if (rows.length === 0) return 0;
    return this.database.exec(`DELETE FROM sessions WHERE id IN (${rows.map(() => '?').join(', ')})`, rows.map((r) => r.id));
  }
}
