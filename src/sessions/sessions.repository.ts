import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { Numeric, numberOrNull } from '../database/columns';
import type { Role } from '../common/role';
import { driverCode } from '../common/database-errors';
import type { ChainState } from './refresh-decision';
import { RevokeReason, Session } from './session.entity';
import { Assurance, isAcr, parseAmr } from './assurance';

/** What a refresh needs, read in one statement: the session's chain state and its user's standing. */
export interface RefreshRow extends ChainState {
  id: string;
  userId: string;
  deviceId: string;
  salt: string;
  role: Role;
  dpopJkt: string | null;
  /** As stored: the caller lowers an `aal2` past AAL2_MAX_AGE. */
  assurance: Assurance;
  /** As stored when the session was opened or last raised; a token's flag is derived afresh (SessionsService). */
  mfaEnrollmentRequired: boolean;
  /** The user has an active second factor now. */
  hasActiveFactor: boolean;
}

export interface SessionScope {
  userId?: string;
  sessionId?: string;
  /** "Every session but this one": logout ?scope=others, password change. */
  excludeId?: string;
  deviceId?: string;
  /** Sessions opened at or after this time ("this wasn't me": everything since the reported sign-in). */
  createdSince?: number;
}

/** What a login needs to know of a device: has this user used it before, and is a session of it live now? */
export interface DeviceHistory {
  /** A session of it exists (revoked or not, within SESSION_RETENTION) and none was reported. */
  seen: boolean;
  live: { id: string; dpopJkt: string | null } | null;
}

/** The refresh statement's row, as the drivers return it. */
interface RefreshSqlRow {
  id: string;
  user_id: string;
  device_id: string;
  generation: Numeric;
  rotated_at: Numeric | null;
  salt: string;
  revoked_at: Numeric | null;
  expires_at: Numeric;
  idle_expires_at: Numeric;
  dpop_jkt: string | null;
  acr: string | null;
  amr: string | null;
  auth_time: Numeric | null;
  created_at: Numeric;
  assurance_generation: Numeric | null;
  mfa_enrollment_required: Numeric | null;
  role: Role;
  disabled_at: Numeric | null;
  has_active_factor: Numeric;
}

/**
 * The only place that knows the sessions table's SQL. The refresh path uses raw, bound
 * statements: one indexed read and one conditional update per rotation.
 */
@Injectable()
export class SessionsRepository {
  constructor(private readonly database: DatabaseService) {}

  /**
   * The session's chain state and its user's standing, in one indexed read. This read joins
   * the users table (owned by UsersRepository) and asks whether an active second factor exists
   * (mfa_factors, owned by FactorsRepository) on purpose: the hot path stays one statement.
   * `causal`: wait until this node has applied every write committed anywhere before the read
   * (Galera); used only to confirm a "no such session" or "generation from the future".
   */
  async findForRefresh(id: string, causal = false, db?: Db): Promise<RefreshRow | null> {
    const rows = await this.database.rows<RefreshSqlRow>(
      (causal ? this.database.causalPrefix : '') +
        `SELECT s.id, s.user_id, s.device_id, s.generation, s.rotated_at, s.salt, s.revoked_at, s.expires_at,
              s.idle_expires_at, s.dpop_jkt, s.acr, s.amr, s.auth_time, s.created_at, s.assurance_generation,
              s.mfa_enrollment_required, u.role, u.disabled_at,
              CASE WHEN EXISTS (SELECT 1 FROM mfa_factors f WHERE f.user_id = s.user_id AND f.activated_at IS NOT NULL) THEN 1 ELSE 0 END AS has_active_factor
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ?`,
      [id],
      db,
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      userId: r.user_id,
      deviceId: r.device_id,
      generation: Number(r.generation),
      rotatedAt: numberOrNull(r.rotated_at),
      salt: r.salt,
      revokedAt: numberOrNull(r.revoked_at),
      expiresAt: Number(r.expires_at),
      idleExpiresAt: Number(r.idle_expires_at),
      role: r.role,
      dpopJkt: r.dpop_jkt ?? null,
      userDisabled: r.disabled_at !== null && r.disabled_at !== undefined,
      assurance: { acr: isAcr(r.acr) ? r.acr : 'aal1', amr: parseAmr(r.amr), authTime: Number(r.auth_time ?? r.created_at) },
      assuranceGeneration: Number(r.assurance_generation ?? 0),
      mfaEnrollmentRequired: Boolean(Number(r.mfa_enrollment_required ?? 0)),
      hasActiveFactor: Number(r.has_active_factor) === 1,
    };
  }

  /**
   * Compare-and-swap, as `rotate`: sets the session's assurance (a completed step-up or first
   * factor) and records the generation it was raised at, moving the chain to `toGeneration`
   * (the same one when not rotating). False when the chain moved or the session was revoked.
   * The MFA_REQUIRED enrolment flag stays as stored unless `endsEnrollment` (a first factor):
   * a password step-up must not lift it.
   */
  async raise(
    id: string,
    fromGeneration: number,
    toGeneration: number,
    assurance: Assurance,
    now: number,
    idleExpiresAt: number,
    endsEnrollment: boolean,
    db?: Db,
  ): Promise<boolean> {
    const rotated = toGeneration !== fromGeneration;
    const sql = `UPDATE sessions SET generation = ?, ${rotated ? 'rotated_at = ?, ' : ''}last_used_at = ?, idle_expires_at = ?, acr = ?, amr = ?, auth_time = ?,
                  assurance_generation = ?${endsEnrollment ? ', mfa_enrollment_required = ?' : ''}
            WHERE id = ? AND generation = ? AND revoked_at IS NULL`;
    const params = [
      toGeneration,
      ...(rotated ? [now] : []),
      now,
      idleExpiresAt,
      assurance.acr,
      assurance.amr.join(','),
      assurance.authTime,
      toGeneration,
      ...(endsEnrollment ? [0] : []),
      id,
      fromGeneration,
    ];
    if (db) return (await this.database.exec(sql, params, db)) === 1;
    return (await this.swap(sql, params)) === 1;
  }

  /** MFA_REQUIRED: the user's sessions that must (again) enrol a factor before anything else, e.g. once their last factor is gone. */
  async requireEnrollment(userId: string, db: Db): Promise<void> {
    await this.database.exec('UPDATE sessions SET mfa_enrollment_required = ? WHERE user_id = ? AND revoked_at IS NULL', [1, userId], db);
  }

  /**
   * Compare-and-swap: advances the chain only if nobody else did since we read it. Returns
   * false when another request won the race (or the session was revoked meanwhile). On Galera
   * a conflicting rotation on another node makes this statement fail certification with
   * ER_LOCK_DEADLOCK instead: the same lost race, reported the same way.
   */
  async rotate(id: string, fromGeneration: number, now: number, idleExpiresAt: number): Promise<boolean> {
    const affected = await this.swap(
      `UPDATE sessions SET generation = ?, rotated_at = ?, last_used_at = ?, idle_expires_at = ?
        WHERE id = ? AND generation = ? AND revoked_at IS NULL`,
      [fromGeneration + 1, now, now, idleExpiresAt, id, fromGeneration],
    );
    return affected === 1;
  }

  private async swap(sql: string, params: unknown[]): Promise<number> {
    try {
      return await this.database.exec(sql, params);
    } catch (error) {
      if (driverCode(error) === 'ER_LOCK_DEADLOCK') return 0;
      throw error;
    }
  }

  async insert(session: Session, db: Db): Promise<void> {
    await db.getRepository(Session).insert(session);
  }

  async deviceHistory(userId: string, deviceId: string, now: number, db: Db = this.database.manager): Promise<DeviceHistory> {
    const [row] = await this.database.rows<{ sessions: Numeric; reported: Numeric | null }>(
      "SELECT COUNT(*) AS sessions, SUM(CASE WHEN revoked_reason = 'reported_by_user' THEN 1 ELSE 0 END) AS reported FROM sessions WHERE user_id = ? AND device_id = ?",
      [userId, deviceId],
      db,
    );
    const [live] = await this.database.rows<{ id: string; dpop_jkt: string | null }>(
      'SELECT id, dpop_jkt FROM sessions WHERE user_id = ? AND device_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ? ORDER BY created_at DESC LIMIT 1',
      [userId, deviceId, now, now],
      db,
    );
    return { seen: Number(row.sessions) > 0 && Number(row.reported) === 0, live: live ? { id: live.id, dpopJkt: live.dpop_jkt ?? null } : null };
  }

  /** Ids of not-yet-revoked sessions in scope, locked for the enclosing transaction. */
  async unrevokedIds(scope: SessionScope, db: Db): Promise<Array<{ id: string; userId: string }>> {
    const where: string[] = ['revoked_at IS NULL'];
    const params: unknown[] = [];
    if (scope.userId !== undefined) {
      where.push('user_id = ?');
      params.push(scope.userId);
    }
    if (scope.sessionId !== undefined) {
      where.push('id = ?');
      params.push(scope.sessionId);
    }
    if (scope.excludeId !== undefined) {
      where.push('id <> ?');
      params.push(scope.excludeId);
    }
    if (scope.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(scope.deviceId);
    }
    if (scope.createdSince !== undefined) {
      where.push('created_at >= ?');
      params.push(scope.createdSince);
    }
    const rows = await this.database.rows<{ id: string; user_id: string }>(
      `SELECT id, user_id FROM sessions WHERE ${where.join(' AND ')}${this.database.forUpdate}`,
      params,
      db,
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id }));
  }

  /** Active sessions of a user beyond which a new one would exceed the limit, least recently used first. */
  async leastRecentlyUsedActive(userId: string, now: number, keep: number, db: Db): Promise<Array<{ id: string; userId: string }>> {
    const rows = await this.database.rows<{ id: string; user_id: string }>(
      `SELECT id, user_id FROM sessions
        WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
        ORDER BY last_used_at DESC, id DESC`,
      [userId, now, now],
      db,
    );
    return rows.slice(keep).map((r) => ({ id: r.id, userId: r.user_id }));
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

  /** One page of the user's sessions, past and present, oldest first, after `after` (keyset over created_at, id). */
  pageForUser(userId: string, after: { createdAt: number; id: string } | null, limit: number): Promise<Session[]> {
    const qb = this.database.manager.getRepository(Session).createQueryBuilder('s').where('s.user_id = :userId', { userId });
    // The range starts at the cursor (`>=`), so that each page is an index seek, not a scan from the oldest.
    if (after) qb.andWhere('s.created_at >= :at AND (s.created_at > :at OR s.id > :id)', { at: after.createdAt, id: after.id });
    return qb.orderBy('s.created_at', 'ASC').addOrderBy('s.id', 'ASC').limit(limit).getMany();
  }

  findById(id: string, causal = false): Promise<Session | null> {
    const find = (db: Db) => db.getRepository(Session).findOneBy({ id });
    return causal ? this.database.causally(find) : find(this.database.manager);
  }

  /** The device a session of this user was opened on, or null (no such session, or no device id). */
  async deviceOf(userId: string, sessionId: string, db: Db): Promise<string | null> {
    const rows = await this.database.rows<{ device_id: string | null }>('SELECT device_id FROM sessions WHERE id = ? AND user_id = ?', [sessionId, userId], db);
    return rows[0]?.device_id ?? null;
  }

  /** When a session of this user was opened, or null (no such session, or housekeeping deleted it). */
  async createdAtOf(userId: string, sessionId: string, db: Db): Promise<number | null> {
    const rows = await this.database.rows<{ created_at: Numeric }>('SELECT created_at FROM sessions WHERE id = ? AND user_id = ?', [sessionId, userId], db);
    return rows[0] ? Number(rows[0].created_at) : null;
  }

  /** Account deletion: every session row of the user (device names, IPs, user agents) goes; the revocation log keeps what the feed needs. */
  deleteForUser(userId: string, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM sessions WHERE user_id = ?', [userId], db);
  }

  /** Housekeeping: one bounded batch of sessions that stopped mattering before `before`. */
  deleteStale(before: number, batch: number): Promise<number> {
    return deleteBatch(
      this.database,
      {
        table: 'sessions',
        key: 'id',
        where: '(revoked_at IS NOT NULL AND revoked_at < ?) OR expires_at < ? OR idle_expires_at < ?',
        params: [before, before, before],
      },
      batch,
    );
  }
}
