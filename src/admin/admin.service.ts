import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import type { AuditEventType } from '../audit/audit-event.entity';
import { UsersService } from '../users/users.service';
import { iso } from '../users/user.view';
import { SessionsService } from '../sessions/sessions.service';
import { SessionView, toSessionView } from '../sessions/session.view';
import { AdminUsersRepository } from './admin-users.repository';
import { AdminUserPage, AdminUserView, AuditEventPage, toAdminUserView } from './admin.view';
import { decodeCursor, encodeCursor } from './cursor';

/** The administrator acting, as recorded on every audit event an admin action causes. */
export interface AdminActor {
  adminId: string;
  client: ClientContext;
}

export const DEFAULT_PAGE_SIZE = 20;

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
  ) {}

  async listUsers(query: { q?: string; limit?: number; cursor?: string }): Promise<AdminUserPage> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeCursor(query.cursor);
    // One row more than asked tells whether there is a next page without a COUNT.
    const rows = await this.adminUsers.list({ q: query.q || undefined, after, limit: limit + 1, now: Date.now() });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toAdminUserView), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
  }

  async getUser(id: string): Promise<AdminUserView> {
    const row = await this.adminUsers.findById(id, Date.now());
    if (!row) throw ApiError.notFound('No such user.');
    return toAdminUserView(row);
  }

  async userSessions(userId: string, includeRevoked: boolean): Promise<{ items: SessionView[] }> {
    await this.requireUser(userId);
    const sessions = await this.sessions.listForUser(userId, includeRevoked);
    return { items: sessions.map((s) => toSessionView(s, null)) };
  }

  async revokeSession(sessionId: string, actor: AdminActor): Promise<void> {
    const revoked = await this.sessions.revokeById(sessionId, 'admin_revoked', { actorId: actor.adminId, client: actor.client });
    if (!revoked) throw ApiError.notFound('No such active session.');
  }

  async revokeAllSessions(userId: string, actor: AdminActor): Promise<{ revoked: number }> {
    await this.requireUser(userId);
    const revoked = await this.sessions.revoke({ userId }, 'admin_revoked', { actorId: actor.adminId, client: actor.client });
    return { revoked: revoked.length };
  }

  /**
   * One transaction: disabled_at set, every session revoked (user_disabled), the event
   * recorded. The revocations reach the access-token registry only after the commit.
   */
  async disable(userId: string, actor: AdminActor): Promise<AdminUserView> {
    if (userId === actor.adminId) throw ApiError.forbidden('You cannot disable your own account.');
    await this.requireUser(userId);
    const now = Date.now();
    const revoked = await this.database.transaction(async (db) => {
      const changed = await this.users.setDisabled(userId, true, now, db);
      // Also sweeps sessions of an already disabled user (a login that raced the disable).
      const done = await this.sessions.revoke({ userId }, 'user_disabled', { actorId: actor.adminId, client: actor.client }, db);
      if (changed) {
        await this.audit.record({ type: 'user_disabled', userId, actorId: actor.adminId, client: actor.client, details: { revokedSessions: done.length } }, db);
      }
      return done;
    });
    this.sessions.announce(revoked, now);
    return this.getUser(userId);
  }

  async enable(userId: string, actor: AdminActor): Promise<AdminUserView> {
    await this.requireUser(userId);
    const now = Date.now();
    await this.database.transaction(async (db) => {
      if (await this.users.setDisabled(userId, false, now, db)) {
        await this.audit.record({ type: 'user_enabled', userId, actorId: actor.adminId, client: actor.client }, db);
      }
    });
    return this.getUser(userId);
  }

  async listEvents(query: { userId?: string; type?: AuditEventType; limit?: number; cursor?: string }): Promise<AuditEventPage> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const before = decodeCursor(query.cursor);
    const rows = await this.audit.list({ userId: query.userId, type: query.type, before, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((e) => ({
        id: e.id,
        type: e.type,
        userId: e.userId,
        sessionId: e.sessionId,
        actorId: e.actorId,
        ip: e.ip,
        userAgent: e.userAgent,
        createdAt: iso(e.createdAt)!,
        details: e.details,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
    };
  }

  private async requireUser(userId: string): Promise<void> {
    if (!(await this.users.findById(userId))) throw ApiError.notFound('No such user.');
  }
}
