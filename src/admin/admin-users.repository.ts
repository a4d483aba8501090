import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
import type { Role } from '../common/role';
import type { KeysetCursor } from '../common/keyset';
import { Numeric, numberOrNull } from '../database/columns';

/** Escapes LIKE's wildcards for the `ESCAPE '!'` clause: %, _ and the escape character itself. */
export function likeContains(text: string): string {
  return `%${text.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

/** A user as the admin API shows it, with the number of sessions that still work. */
export interface AdminUserRow {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  disabledAt: number | null;
  createdAt: number;
  lastLoginAt: number | null;
  emailVerifiedAt: number | null;
  activeSessions: number;
  /** Whether the user has an active second factor. */
  mfaEnabled: boolean;
}

/** A row of AdminUsersRepository's statement, as the drivers return it. */
interface AdminUserRecord {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  disabled_at: Numeric | null;
  created_at: Numeric;
  last_login_at: Numeric | null;
  email_verified_at: Numeric | null;
  active_sessions: Numeric;
  active_factors: Numeric;
}

export interface UserListQuery {
  /** Matched as a substring of the e-mail address or the name, case-insensitively. */
  q?: string;
  /** The last row of the previous page. */
  after?: KeysetCursor | null;
  limit: number;
  now: number;
}

/**
 * The admin's read model of the users table (read-only; UsersRepository is its only writer). One statement per page: keyset pagination over
 * (created_at, id) newest first (IDX_users_created), and the active-session count and the
 * second-factor flag as correlated subqueries that run for the page's rows only, on
 * IDX_sessions_user_revoked and IDX_mfa_factors_user.
 */
@Injectable()
export class AdminUsersRepository {
  constructor(private readonly database: DatabaseService) {}

  private select(where: string): string {
    return `SELECT u.id, u.email, u.name, u.role, u.disabled_at, u.created_at, u.last_login_at, u.email_verified_at,
              (SELECT COUNT(*) FROM sessions s
                WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > ? AND s.idle_expires_at > ?) AS active_sessions,
              (SELECT COUNT(*) FROM mfa_factors f WHERE f.user_id = u.id AND f.activated_at IS NOT NULL) AS active_factors
         FROM users u
        ${where}`;
  }

  async list(query: UserListQuery): Promise<AdminUserRow[]> {
    const where: string[] = [];
    const params: unknown[] = [query.now, query.now];
    if (query.q) {
      // '!' escapes LIKE's wildcards; a backslash is an ordinary character in both dialects.
      const pattern = likeContains(query.q.toLowerCase());
      where.push(`(u.email LIKE ? ESCAPE '!' OR LOWER(COALESCE(u.name, '')) LIKE ? ESCAPE '!')`);
      params.push(pattern, pattern);
    }
    if (query.after) {
      where.push('(u.created_at < ? OR (u.created_at = ? AND u.id < ?))');
      params.push(query.after.createdAt, query.after.createdAt, query.after.id);
    }
    const limit = Math.max(1, Math.min(1000, Math.floor(query.limit)));
    const rows = await this.database.rows<AdminUserRecord>(
      `${this.select(where.length ? `WHERE ${where.join(' AND ')}` : '')}
        ORDER BY u.created_at DESC, u.id DESC
        LIMIT ${limit}`,
      params,
    );
    return rows.map(toRow);
  }

  async findById(id: string, now: number): Promise<AdminUserRow | null> {
    const rows = await this.database.rows<AdminUserRecord>(this.select('WHERE u.id = ?'), [now, now, id]);
    return rows[0] ? toRow(rows[0]) : null;
  }
}

function toRow(r: AdminUserRecord): AdminUserRow {
  return {
    id: r.id,
    email: r.email,
    name: r.name ?? null,
    role: r.role,
    disabledAt: numberOrNull(r.disabled_at),
    createdAt: Number(r.created_at),
    lastLoginAt: numberOrNull(r.last_login_at),
    emailVerifiedAt: numberOrNull(r.email_verified_at),
    activeSessions: Number(r.active_sessions),
    mfaEnabled: Number(r.active_factors) > 0,
  };
}
