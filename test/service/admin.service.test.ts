import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Actor, ClientContext } from '../../src/common/client-context';
import { AccountService } from '../../src/account/account.service';
import { AdminUsersRepository } from '../../src/admin/admin-users.repository';
import { AdminService } from '../../src/admin/admin.service';
import { AuditService } from '../../src/audit/audit.service';
import { IssuedSession, SessionsService } from '../../src/sessions/sessions.service';
import type { User } from '../../src/users/user.entity';
import { UsersService } from '../../src/users/users.service';
import { act, calls, newTestService, rejection, ServiceTest } from '../support/service-test';
import { MemoryTables, memoryStore } from '../support/service-fakes';

const client: ClientContext = { ip: '192.0.2.40', userAgent: 'service-test' };

const status = async (promise: Promise<unknown>): Promise<number> => (await rejection(promise)).statusCode;

describe('AdminService (service test: real users and sessions rules; in-memory tables)', () => {
  let t: ServiceTest<AdminService>;
  let tables: MemoryTables;
  let root: User;
  let admin: Actor;
  let bob: User;

  beforeEach(async () => {
    const store = memoryStore();
    tables = store.tables;
    t = await newTestService(AdminService, { database: store.database, providers: [UsersService, SessionsService, ...store.repositories] });
    // The admin's view of a user, read from the same tables (its SQL is the repository's, tested end to end).
    act(t.mock(AdminUsersRepository).findById, async (id: string) => {
      const u = tables.users.get(id);
      return u ? { ...u, activeSessions: tables.live(id).length, mfaEnabled: false } : null;
    });
    root = tables.addUser({ email: 'root@example.test', role: 'admin' });
    admin = { actorId: root.id, client };
    bob = tables.addUser({ email: 'bob@example.test' });
  });

  const open = (user: User, deviceId: string): Promise<IssuedSession> =>
    t.database.transaction((db) => t.get(SessionsService).open(user, { deviceId }, client, db));
  const events = () => calls(t.mock(AuditService).record).flatMap(([e]) => (Array.isArray(e) ? e : [e]));

  describe('roles', () => {
    it('never demotes the last administrator, nor counts a disabled one as another', async () => {
      tables.addUser({ email: 'gone@example.test', role: 'admin', disabledAt: 1 });
      assert.equal(await status(t.sut.setRole('root@example.test', 'user', admin)), 403);
      assert.equal(tables.users.get(root.id)!.role, 'admin');
      assert.equal(events().filter((e) => e.type === 'user_demoted').length, 0);
    });

    it('a demotion signs the user out everywhere (role_changed): an admin claim must die now; a promotion does not', async () => {
      await t.sut.setRole('bob@example.test', 'admin', admin);
      const bobs = await open(tables.users.get(bob.id)!, 'laptop');
      assert.equal(tables.sessions.get(bobs.sessionId)?.revokedAt, null, 'promoted without signing out');
      const { signedOut } = await t.sut.setRole('bob@example.test', 'user', admin);
      assert.equal(signedOut, 1);
      assert.equal(tables.sessions.get(bobs.sessionId)?.revokedReason, 'role_changed');
      assert.deepEqual(
        events()
          .filter((e) => e.type.startsWith('user_'))
          .map((e) => e.type),
        ['user_promoted', 'user_demoted'],
      );
    });

    it('setting the role a user already has changes and revokes nothing', async () => {
      const bobs = await open(bob, 'laptop');
      assert.equal((await t.sut.setRole('bob@example.test', 'user', admin)).signedOut, 0);
      assert.equal(tables.sessions.get(bobs.sessionId)?.revokedAt, null);
    });
  });

  describe('disable and enable', () => {
    it('an administrator cannot disable their own account (nor so lock the last one out)', async () => {
      assert.equal(await status(t.sut.disable(root.id, admin)), 403);
      assert.equal(tables.users.get(root.id)!.disabledAt, null);
    });

    it('disabling revokes every session (user_disabled) and the reset links, in one transaction, recorded once', async () => {
      const laptop = await open(bob, 'laptop');
      const view = await t.sut.disable(bob.id, admin);
      assert.equal(view.disabled, true);
      assert.equal(tables.sessions.get(laptop.sessionId)?.revokedReason, 'user_disabled');
      assert.deepEqual(
        calls(t.mock(AccountService).cancelPasswordResets).map(([userId]) => userId),
        [bob.id],
      );
      // A login that raced the disable: swept by the second disable, which records nothing new.
      const raced = await open(bob, 'phone');
      await t.sut.disable(bob.id, admin);
      assert.equal(tables.sessions.get(raced.sessionId)?.revokedReason, 'user_disabled');
      assert.equal(events().filter((e) => e.type === 'user_disabled').length, 1);
    });

    it('a failure inside the disable leaves the user enabled and the sessions live', async () => {
      const laptop = await open(bob, 'laptop');
      act(t.mock(AccountService).cancelPasswordResets, async () => {
        throw new Error('the links could not be cancelled');
      });
      await assert.rejects(t.sut.disable(bob.id, admin), /could not be cancelled/);
      assert.equal(tables.users.get(bob.id)!.disabledAt, null);
      assert.equal(tables.sessions.get(laptop.sessionId)?.revokedAt, null);
    });

    it('enabling records an event only when something changed', async () => {
      await t.sut.enable(bob.id, admin);
      assert.equal(events().filter((e) => e.type === 'user_enabled').length, 0);
      await t.sut.disable(bob.id, admin);
      await t.sut.enable(bob.id, admin);
      assert.equal(tables.users.get(bob.id)!.disabledAt, null);
      assert.equal(events().filter((e) => e.type === 'user_enabled').length, 1);
    });
  });

  describe('revoking sessions', () => {
    it('one: a live session is revoked (admin_revoked); an unknown or already revoked one is 404', async () => {
      const laptop = await open(bob, 'laptop');
      assert.equal(await status(t.sut.revokeSession('01890000-0000-7000-8000-000000000000', admin)), 404);
      await t.sut.revokeSession(laptop.sessionId, admin);
      assert.equal(tables.sessions.get(laptop.sessionId)?.revokedReason, 'admin_revoked');
      assert.equal(await status(t.sut.revokeSession(laptop.sessionId, admin)), 404);
    });

    it("all: that user's sessions only, counted; an unknown user is 404", async () => {
      await open(bob, 'laptop');
      await open(bob, 'phone');
      const roots = await open(root, 'desk');
      assert.deepEqual(await t.sut.revokeAllSessions(bob.id, admin), { revoked: 2 });
      assert.equal(tables.live(bob.id).length, 0);
      assert.equal(tables.sessions.get(roots.sessionId)?.revokedAt, null);
      assert.equal(await status(t.sut.revokeAllSessions('01890000-0000-7000-8000-000000000000', admin)), 404);
    });
  });
});
