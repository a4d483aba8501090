import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import type { Actor } from '../common/client-context';
import { decodeCursor, keysetPage, pageFetchSize } from '../common/keyset';
import type { Role } from '../common/role';
import { iso } from '../common/time';
import { DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import type { AuditEventType } from '../audit/audit-event.entity';
import { UsersService } from '../users/users.service';
import type { User } from '../users/user.entity';
import { SessionsService } from '../sessions/sessions.service';
import { SessionView, toSessionView } from '../sessions/session.view';
import { AdminUsersRepository } from './admin-users.repository';
import { AdminUserPage, AdminUserView, AuditEventPage, EventsPerHourView, toAdminUserView } from './admin.view';
import { DEFAULT_PAGE_SIZE } from './dto';
import { AccountService } from '../account/account.service';
import { AccountDeletion } from '../account/account-deletion';

/**
 * Admin rules: who may be acted on, what one action changes, and what it records. Every
 * change records an audit event with actorId = the admin and userId = the user acted on.
 */
@Injectable()
export class AdminService {
  constructor(
    private readonly database: DatabaseService,
    private readonly users: UsersService,
    private readonly adminUsers: AdminUsersRepository,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    private readonly account: AccountService,
    private readonly deletion: AccountDeletion,
    private readonly clock: Clock,
  ) {}

  async listUsers(query: { q?: string; limit?: number; cursor?: string }): Promise<AdminUserPage> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const rows = await this.adminUsers.list({ q: query.q || undefined, after: decodeCursor(query.cursor), limit: pageFetchSize(limit), now: this.clock.now() });
    return keysetPage(rows, limit, toAdminUserView);
  }

  async getUser(id: string): Promise<AdminUserView> {
    const row = await this.adminUsers.findById(id, this.clock.now());
    if (!row) throw ApiError.notFound('No such user.');
    return toAdminUserView(row);
  }

  async userSessions(userId: string, includeRevoked: boolean): Promise<{ items: SessionView[] }> {
    await this.requireUser(userId);
    const sessions = await this.sessions.listForUser(userId, includeRevoked);
    return { items: sessions.map((s) => toSessionView(s, null)) };
  }

  async revokeSession(sessionId: string, admin: Actor): Promise<void> {
    const revoked = await this.sessions.revoke({ sessionId }, 'admin_revoked', admin);
    if (revoked.length === 0) throw ApiError.notFound('No such active session.');
  }

  async revokeAllSessions(userId: string, admin: Actor): Promise<{ revoked: number }> {
    await this.requireUser(userId);
    const revoked = await this.sessions.revoke({ userId }, 'admin_revoked', admin);
    return { revoked: revoked.length };
  }

  /** One transaction: disabled_at set, every session revoked (user_disabled), the event recorded. */
  async disable(userId: string, admin: Actor): Promise<AdminUserView> {
    if (userId === admin.actorId) throw ApiError.forbidden('You cannot disable your own account.');
    await this.requireUser(userId);
    await this.database.transaction(async (db) => {
      const changed = await this.users.setDisabled(userId, true, this.clock.now(), db);
      // Also sweeps sessions of an already disabled user (a login that raced the disable).
      const revoked = await this.sessions.revoke({ userId }, 'user_disabled', admin, db);
      await this.account.cancelPasswordResets(userId, db);
      if (changed) await this.audit.record({ type: 'user_disabled', userId, ...admin, details: { revokedSessions: revoked.length } }, db);
    });
    return this.getUser(userId);
  }

  async enable(userId: string, admin: Actor): Promise<AdminUserView> {
    await this.requireUser(userId);
    await this.database.transaction(async (db) => {
      if (await this.users.setDisabled(userId, false, this.clock.now(), db)) await this.audit.record({ type: 'user_enabled', userId, ...admin }, db);
    });
    return this.getUser(userId);
  }

  /**
   * One transaction: the new role, and (for a demotion) every session signed out with reason
   * `role_changed`, because access tokens carry the role and an admin claim must die now.
   */
  async setRole(email: string, role: Role, admin: Actor): Promise<{ user: User; signedOut: number }> {
    return this.database.transaction(async (db) => {
      const { user, changed } = await this.users.setRole(email, role, admin, db);
      const signedOut = changed && role === 'user' ? await this.sessions.revoke({ userId: user.id }, 'role_changed', admin, db) : [];
      return { user, signedOut: signedOut.length };
    });
  }

  /** The account and everything of it (AccountDeletion), the admin recorded as actor; never the last administrator, themselves included. */
  deleteUser(userId: string, admin: Actor): Promise<void> {
    return this.deletion.deleteByAdmin(userId, admin, 'admin');
  }

  async listEvents(query: { userId?: string; type?: AuditEventType; limit?: number; cursor?: string }): Promise<AuditEventPage> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const rows = await this.audit.list({ userId: query.userId, type: query.type, before: decodeCursor(query.cursor), limit: pageFetchSize(limit) });
    return keysetPage(rows, limit, (e) => ({ ...e, createdAt: iso(e.createdAt)! }));
  }

  /** The dashboard's chart: events per hour over a range the DTO bounded (at most 31 days), counted by the database. */
  async eventsPerHour(query: { from: string; to: string; type?: AuditEventType }): Promise<EventsPerHourView> {
    const from = Date.parse(query.from);
    const to = Date.parse(query.to);
    const hours = await this.audit.countPerHour(from, to, query.type);
    return { from: iso(from)!, to: iso(to)!, type: query.type ?? null, hours: hours.map((h) => ({ start: iso(h.start)!, count: h.count })) };
  }

  private async requireUser(userId: string): Promise<void> {
    if (!(await this.users.findById(userId))) throw ApiError.notFound('No such user.');
  }
}
