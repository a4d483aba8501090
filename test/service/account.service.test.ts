import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientContext } from '../../src/common/client-context';
import type { LinkPurpose } from '../../src/account/account-link.entity';
import { AccountLinks } from '../../src/account/account-links';
import { AccountService } from '../../src/account/account.service';
import { AuthService } from '../../src/auth/auth.service';
import { MailOutbox } from '../../src/mail/mail-outbox';
import { FactorsService } from '../../src/mfa/factors.service';
import { LoginLockoutService } from '../../src/rate-limit/login-lockout.service';
import { IssuedSession, SessionsService } from '../../src/sessions/sessions.service';
import { PasswordService } from '../../src/users/password.service';
import type { User } from '../../src/users/user.entity';
import { UsersService } from '../../src/users/users.service';
import { calls, newTestService, rejection, resolves, ServiceTest } from '../support/service-test';
import { FakePasswords, fakeHash, MemoryTables, memoryStore } from '../support/service-fakes';

const client: ClientContext = { ip: '192.0.2.30', userAgent: 'service-test' };
const MINUTE = 60_000;

const code = async (promise: Promise<unknown>): Promise<string> => (await rejection(promise)).code;

describe('AccountService (service test: real links, users, sessions and password replacement; in-memory tables)', () => {
  let t: ServiceTest<AccountService>;
  let tables: MemoryTables;
  let passwords: FakePasswords;
  let alice: User;

  beforeEach(async () => {
    const store = memoryStore();
    tables = store.tables;
    passwords = new FakePasswords();
    t = await newTestService(AccountService, {
      database: store.database,
      config: { passwordResetTtl: 30 * 60 },
      providers: [AccountLinks, UsersService, SessionsService, AuthService, { provide: PasswordService, useValue: passwords }, ...store.repositories],
    });
    alice = tables.addUser({ email: 'alice@example.test', password: 'old password' });
  });

  /** A link as the mail sender makes it: in a transaction, superseding the user's earlier ones of its purpose. */
  const link = (purpose: LinkPurpose, options: { sessionId?: string; supersede?: boolean; user?: User } = {}): Promise<string> =>
    t.database.transaction(async (db) => {
      const links = t.get(AccountLinks);
      const made = await links.issue(
        purpose,
        (options.user ?? alice).id,
        { expiresAt: t.clock.now() + 30 * MINUTE, sessionId: options.sessionId, supersede: options.supersede ?? true },
        db,
      );
      return links.tokenFor(made);
    });
  const open = (deviceId: string): Promise<IssuedSession> => t.database.transaction((db) => t.get(SessionsService).open(alice, { deviceId }, client, db));
  const hashOf = () => tables.users.get(alice.id)!.passwordHash;

  describe('password reset link', () => {
    it('sets the password, revokes every session (password_reset), proves the address, clears the lockout', async () => {
      tables.users.get(alice.id)!.emailVerifiedAt = null;
      const laptop = await open('laptop');
      const token = await link('password_reset');
      await t.sut.resetPassword(token, 'new password', client);
      assert.equal(hashOf(), fakeHash('new password'));
      assert.equal(tables.sessions.get(laptop.sessionId)?.revokedReason, 'password_reset');
      assert.equal(tables.users.get(alice.id)!.emailVerifiedAt, t.clock.now());
      assert.deepEqual(
        calls(t.mock(LoginLockoutService).clear).map(([email]) => email),
        ['alice@example.test'],
      );
    });

    it('works once', async () => {
      const token = await link('password_reset');
      await t.sut.resetPassword(token, 'new password', client);
      assert.equal(await code(t.sut.resetPassword(token, 'another password', client)), 'invalid_link');
      assert.equal(hashOf(), fakeHash('new password'));
    });

    it('a newer link supersedes it', async () => {
      const older = await link('password_reset');
      const newer = await link('password_reset');
      assert.equal(await code(t.sut.resetPassword(older, 'new password', client)), 'invalid_link');
      await t.sut.resetPassword(newer, 'new password', client);
      assert.equal(hashOf(), fakeHash('new password'));
    });

    it('expires, and an expired (or forged, or other-purpose) token costs no password hash', async () => {
      const token = await link('password_reset');
      const verification = await link('email_verification');
      t.clock.advance(30 * MINUTE);
      assert.equal(await code(t.sut.resetPassword(token, 'new password', client)), 'invalid_link');
      assert.equal(await code(t.sut.resetPassword(verification, 'new password', client)), 'invalid_link');
      assert.equal(await code(t.sut.resetPassword(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), 'new password', client)), 'invalid_link');
      assert.equal(passwords.hash.mock.callCount(), 0);
      assert.equal(hashOf(), fakeHash('old password'));
    });

    it('a password changed since the link was made ends it', async () => {
      const token = await link('password_reset');
      t.clock.advance(MINUTE);
      tables.users.get(alice.id)!.passwordChangedAt = t.clock.now();
      assert.equal(await code(t.sut.resetPassword(token, 'new password', client)), 'invalid_link');
    });

    it('a refused reset leaves the link usable: it is redeemed in the transaction it authorises', async () => {
      const token = await link('password_reset');
      tables.users.get(alice.id)!.disabledAt = t.clock.now();
      assert.equal(await code(t.sut.resetPassword(token, 'new password', client)), 'account_disabled');
      assert.equal([...tables.links.values()][0].usedAt, null, 'rolled back with the rest');
      assert.equal(calls(t.mock(LoginLockoutService).clear).length, 0);
      tables.users.get(alice.id)!.disabledAt = null;
      await t.sut.resetPassword(token, 'new password', client);
      assert.equal(hashOf(), fakeHash('new password'));
    });
  });

  describe('"this wasn\'t me"', () => {
    it('revokes the reported sign-in and those after it, removes factors enrolled since, owes a reset, mails a link: once', async () => {
      const before = await open('laptop');
      t.clock.advance(MINUTE);
      const reported = await open('intruder');
      t.clock.advance(MINUTE);
      const after = await open('phone');
      resolves(t.mock(FactorsService).removeEnrolledSince, 1);
      const token = await link('session_report', { sessionId: reported.sessionId, supersede: false });
      await t.sut.reportSession(token, client);
      assert.equal(tables.sessions.get(before.sessionId)?.revokedAt, null);
      assert.equal(tables.sessions.get(reported.sessionId)?.revokedReason, 'reported_by_user');
      assert.equal(tables.sessions.get(after.sessionId)?.revokedReason, 'reported_by_user');
      assert.deepEqual(
        calls(t.mock(FactorsService).removeEnrolledSince).map(([userId, since]) => [userId, since]),
        [[alice.id, tables.sessions.get(reported.sessionId)!.createdAt]],
      );
      assert.equal(tables.users.get(alice.id)!.passwordResetRequiredAt, t.clock.now());
      assert.deepEqual(
        calls(t.mock(MailOutbox).enqueue).map(([m]) => [m.kind, m.userId]),
        [['password_reset', alice.id]],
      );
      assert.equal(await code(t.sut.reportSession(token, client)), 'invalid_link');
      assert.equal(calls(t.mock(MailOutbox).enqueue).length, 1);
    });

    it('a report link must name a session, and a reset link is no report link', async () => {
      await open('laptop');
      const noSession = await link('session_report', { supersede: false });
      const reset = await link('password_reset');
      assert.equal(await code(t.sut.reportSession(noSession, client)), 'invalid_link');
      assert.equal(await code(t.sut.reportSession(reset, client)), 'invalid_link');
      assert.equal(tables.live(alice.id).length, 1);
      assert.equal(tables.users.get(alice.id)!.passwordResetRequiredAt, null);
    });

    it('the reset it owes is settled by the mailed link, and only then does the password sign in again', async () => {
      const reported = await open('intruder');
      await t.sut.reportSession(await link('session_report', { sessionId: reported.sessionId, supersede: false }), client);
      await t.sut.resetPassword(await link('password_reset'), 'new password', client);
      assert.equal(tables.users.get(alice.id)!.passwordResetRequiredAt, null);
    });
  });

  describe('e-mail verification link', () => {
    it('proves the address once, and retires the other verification links', async () => {
      tables.users.get(alice.id)!.emailVerifiedAt = null;
      const first = await link('email_verification', { supersede: false });
      const second = await link('email_verification', { supersede: false });
      await t.sut.verifyEmail(second, client);
      assert.equal(tables.users.get(alice.id)!.emailVerifiedAt, t.clock.now());
      assert.equal(await code(t.sut.verifyEmail(second, client)), 'invalid_link');
      assert.equal(await code(t.sut.verifyEmail(first, client)), 'invalid_link');
    });
  });
});
