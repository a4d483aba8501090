import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/common/api-error';
import type { ClientContext } from '../../src/common/client-context';
import { AuditService } from '../../src/audit/audit.service';
import { AccessTokensService } from '../../src/auth/access-tokens.service';
import { AuthService, LoginInput, TokenResponse } from '../../src/auth/auth.service';
import { DpopService, ProofRequest } from '../../src/auth/dpop.service';
import type { Principal } from '../../src/auth/jwt.strategy';
import { MailOutbox } from '../../src/mail/mail-outbox';
import type { MfaChallenge } from '../../src/mfa/mfa-challenge.entity';
import { MfaChallenges } from '../../src/mfa/mfa-challenges';
import { MfaService } from '../../src/mfa/mfa.service';
import { TrustedDevices } from '../../src/mfa/trusted-devices';
import { CounterStore } from '../../src/rate-limit/counter-store';
import { LoginLockoutService } from '../../src/rate-limit/login-lockout.service';
import { combined } from '../../src/sessions/assurance';
import { SessionsService } from '../../src/sessions/sessions.service';
import { PasswordService } from '../../src/users/password.service';
import type { User } from '../../src/users/user.entity';
import { UsersService } from '../../src/users/users.service';
import { FakeClock } from '../support/clock';
import { act, calls, newTestService, rejection, resolves, returns, SERVICE_TEST_EPOCH, ServiceTest } from '../support/service-test';
import { FakePasswords, fakeHash, MemoryTables, memoryCounterStore, memoryStore } from '../support/service-fakes';

const client: ClientContext = { ip: '192.0.2.20', userAgent: 'service-test' };
const PASSWORD = 'correct horse battery';
/** A request without a DPoP proof (DpopService is an automock: its answers are the test's). */
const noProof: ProofRequest = { proof: undefined, method: 'POST', path: '/auth/login' };

describe('AuthService (service test: real users, sessions and lockout rules; in-memory tables)', () => {
  let t: ServiceTest<AuthService>;
  let tables: MemoryTables;
  let passwords: FakePasswords;
  let alice: User;

  beforeEach(async () => {
    const store = memoryStore();
    const clock = new FakeClock(SERVICE_TEST_EPOCH);
    tables = store.tables;
    passwords = new FakePasswords();
    t = await newTestService(AuthService, {
      clock,
      database: store.database,
      config: { loginLockout: { limit: 3, windowSeconds: 900 } },
      providers: [
        UsersService,
        SessionsService,
        LoginLockoutService,
        { provide: PasswordService, useValue: passwords },
        { provide: CounterStore, useValue: memoryCounterStore(clock) },
        ...store.repositories,
      ],
    });
    resolves(t.mock(DpopService).loginKey, null);
    returns(t.mock(AccessTokensService).issue, { token: 'access-token', expiresIn: 900 });
    alice = tables.addUser({ email: 'alice@example.test', password: PASSWORD, lastLoginAt: SERVICE_TEST_EPOCH - 86_400_000 });
  });

  const login = (input: Partial<LoginInput> = {}) =>
    t.sut.login({ email: 'alice@example.test', password: PASSWORD, deviceId: 'laptop', ...input }, client, noProof);
  const tokens = async (input: Partial<LoginInput> = {}): Promise<TokenResponse> => {
    const outcome = await login(input);
    assert.ok('tokens' in outcome, 'a session, not a second step');
    return outcome.tokens;
  };
  const principal = (tokens: TokenResponse, fields: Partial<Principal> = {}): Principal => ({
    userId: alice.id,
    sessionId: tokens.session_id,
    role: 'user',
    tokenId: 'jti',
    dpopJkt: null,
    expiresAt: t.clock.now() + 900_000,
    acr: 'aal1',
    amr: ['pwd'],
    authTime: t.clock.now(),
    mfaEnrollmentRequired: false,
    ...fields,
  });
  const auditTypes = () => calls(t.mock(AuditService).record).flatMap(([e]) => (Array.isArray(e) ? e : [e]));

  describe('login', () => {
    it('an unknown address and a wrong password fail alike, and both pay for a password comparison (the dummy hash)', async () => {
      const unknown = await rejection(login({ email: 'nobody@example.test' }));
      const wrong = await rejection(login({ password: 'wrong password' }));
      assert.deepEqual(unknown.body(), wrong.body());
      assert.equal(unknown.statusCode, 401);
      assert.deepEqual(passwords.compared, ['dummy', fakeHash(PASSWORD)], 'the unknown address was compared against the dummy hash');
      assert.equal(tables.sessions.size, 0);
      assert.deepEqual(
        auditTypes().map((e) => e.details),
        [{ reason: 'unknown_user' }, { reason: 'wrong_password' }],
        'the reason is for the security log only',
      );
    });

    it('a disabled account is told so only after a correct password', async () => {
      tables.users.get(alice.id)!.disabledAt = t.clock.now();
      assert.equal((await rejection(login({ password: 'wrong password' }))).code, 'invalid_credentials');
      assert.equal((await rejection(login())).code, 'account_disabled');
      assert.equal(tables.sessions.size, 0);
    });

    it('REQUIRE_EMAIL_VERIFICATION: an unverified address gets a fresh link, after a correct password only, and no session', async () => {
      t.config.requireEmailVerification = true;
      tables.users.get(alice.id)!.emailVerifiedAt = null;
      assert.equal((await rejection(login({ password: 'wrong password' }))).code, 'invalid_credentials');
      assert.equal(calls(t.mock(MailOutbox).enqueue).length, 0);
      assert.equal((await rejection(login())).code, 'email_unverified');
      assert.deepEqual(
        calls(t.mock(MailOutbox).enqueue).map(([m]) => m.kind),
        ['email_verification'],
      );
      assert.equal(tables.sessions.size, 0);
    });

    it('an account owing a reset ("this wasn\'t me") does not sign in with its password', async () => {
      tables.users.get(alice.id)!.passwordResetRequiredAt = t.clock.now();
      assert.equal((await rejection(login())).statusCode, 403);
      assert.equal(tables.sessions.size, 0);
    });

    it('a password changed between the check and the session (under the row lock) wins over the login', async () => {
      const verify = passwords.verify.mock;
      verify.mockImplementationOnce(async (stored, password, admit) => {
        await admit?.();
        tables.users.get(alice.id)!.passwordHash = fakeHash('changed meanwhile');
        return stored === fakeHash(password);
      });
      assert.equal((await rejection(login())).code, 'invalid_credentials');
      assert.equal(tables.sessions.size, 0);
    });

    it('opens a session, records the login, and alerts on a device never seen before', async () => {
      const first = await tokens({ deviceId: 'laptop' });
      assert.equal(tables.sessions.get(first.session_id)?.userId, alice.id);
      assert.equal(tables.users.get(alice.id)!.lastLoginAt, t.clock.now());
      const mails = () => calls(t.mock(MailOutbox).enqueue).map(([m]) => m);
      assert.deepEqual(
        mails().map((m) => m.kind),
        ['new_device'],
      );
      await tokens({ deviceId: 'laptop', refreshCookie: first.refresh_token });
      assert.equal(mails().length, 1, 'the same device, showing it holds its session: no mail');
      await tokens({ deviceId: 'laptop' });
      assert.equal(mails().length, 2, 'the same device id without its cookie takes the live session over: a mail');
      assert.equal((mails()[1].data as { takeover?: boolean }).takeover, true);
    });
  });

  describe('login lockout (LOGIN_LOCKOUT=3/900s)', () => {
    it('past the limit the address is refused with 429 before any password is compared, even the right one', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await rejection(login({ password: `guess ${i}` }))).code, 'invalid_credentials');
      const locked = await rejection(login());
      assert.equal(locked.statusCode, 429);
      assert.equal(passwords.compared.length, 3, 'the fourth attempt never reached argon2');
      assert.equal(tables.sessions.size, 0);
    });

    it('counts an unknown address the same way, whatever its spelling', async () => {
      for (let i = 0; i < 3; i++) await rejection(login({ email: i % 2 ? ' Nobody@Example.TEST' : 'nobody@example.test' }));
      assert.equal((await rejection(login({ email: 'NOBODY@example.test' }))).statusCode, 429);
    });

    it('a correct password forgets the failures; the window closing does too', async () => {
      await rejection(login({ password: 'guess 1' }));
      await rejection(login({ password: 'guess 2' }));
      await tokens();
      for (let i = 0; i < 3; i++) assert.equal((await rejection(login({ password: `again ${i}` }))).code, 'invalid_credentials');
      assert.equal((await rejection(login())).statusCode, 429);
      t.clock.advance(900_000);
      await tokens();
    });
  });

  describe('second factor', () => {
    const challenge = (): MfaChallenge =>
      ({
        id: 'c1',
        tokenMac: 'mac',
        userId: alice.id,
        createdAt: t.clock.now(),
        expiresAt: t.clock.now() + 300_000,
        usedAt: null,
        failures: 0,
        deviceId: 'laptop',
        deviceName: null,
        useCookie: false,
        dpopJkt: null,
      }) as unknown as MfaChallenge;

    beforeEach(() => {
      resolves(t.mock(MfaService).loginStep, { mfaRequired: true, mfaToken: 'mfa-token', expiresIn: 300, methods: ['totp'] });
    });

    it('a correct password alone holds no token: no session, no access token, no login recorded', async () => {
      const outcome = await login();
      assert.ok('mfa' in outcome && outcome.mfa.mfaToken === 'mfa-token');
      assert.equal(tables.sessions.size, 0);
      assert.equal(calls(t.mock(AccessTokensService).issue).length, 0);
      assert.equal(tables.users.get(alice.id)!.lastLoginAt, SERVICE_TEST_EPOCH - 86_400_000);
    });

    it('the second step opens the session at aal2, once: a challenge another request consumed opens nothing', async () => {
      await login();
      resolves(t.mock(MfaService).verifyLogin, { challenge: challenge(), assurance: combined(['pwd', 'otp'], t.clock.now()) });
      act(t.mock(MfaChallenges).consume, async () => false);
      assert.equal((await rejection(t.sut.completeMfa({ mfaToken: 'mfa-token', method: 'totp', code: '123456' }, client, noProof))).code, 'invalid_mfa_token');
      assert.equal(tables.sessions.size, 0);
      act(t.mock(MfaChallenges).consume, async () => true);
      const done = await t.sut.completeMfa({ mfaToken: 'mfa-token', method: 'totp', code: '123456' }, client, noProof);
      assert.equal(tables.sessions.get(done.tokens.session_id)?.acr, 'aal2');
      assert.equal(done.tokens.device_id, 'laptop', 'the device the login named');
    });
  });

  describe('password change', () => {
    it("revokes every session, opens a new one for the caller's device, and forgets trusted devices", async () => {
      const laptop = await tokens({ deviceId: 'laptop' });
      const phone = await tokens({ deviceId: 'phone' });
      const next = await t.sut.changePassword(principal(laptop), PASSWORD, 'a new passphrase', client);
      assert.equal(tables.sessions.get(laptop.session_id)?.revokedReason, 'password_changed');
      assert.equal(tables.sessions.get(phone.session_id)?.revokedReason, 'password_changed');
      assert.deepEqual(
        tables.live(alice.id).map((s) => [s.id, s.deviceId]),
        [[next.session_id, 'laptop']],
      );
      assert.equal(tables.users.get(alice.id)!.passwordHash, fakeHash('a new passphrase'));
      assert.deepEqual(
        calls(t.mock(TrustedDevices).forgetUser).map(([userId]) => userId),
        [alice.id],
      );
      assert.equal(calls(t.mock(MfaChallenges).endForUser).length, 1, 'a pending second step opened by the old password ends');
    });

    it('a wrong current password changes nothing', async () => {
      const laptop = await tokens();
      assert.equal((await rejection(t.sut.changePassword(principal(laptop), 'not it', 'a new passphrase', client))).code, 'invalid_credentials');
      assert.equal(tables.users.get(alice.id)!.passwordHash, fakeHash(PASSWORD));
      assert.equal(tables.live(alice.id).length, 1);
    });

    it('asks for aal2 (MfaService.requireAal2IfEnrolled) before the password is even compared, and changes nothing when refused', async () => {
      const laptop = await tokens();
      const compared = passwords.compared.length;
      act(t.mock(MfaService).requireAal2IfEnrolled, async () => {
        throw ApiError.insufficientUserAuthentication('aal2');
      });
      assert.equal((await rejection(t.sut.changePassword(principal(laptop), PASSWORD, 'a new passphrase', client))).code, 'insufficient_user_authentication');
      assert.deepEqual(
        calls(t.mock(MfaService).requireAal2IfEnrolled).map(([caller]) => [caller.userId, caller.acr]),
        [[alice.id, 'aal1']],
      );
      assert.equal(passwords.compared.length, compared, 'no password oracle for an aal1 token');
      assert.equal(tables.users.get(alice.id)!.passwordHash, fakeHash(PASSWORD));
      assert.equal(tables.live(alice.id).length, 1);
    });
  });

  describe('step-up', () => {
    it('with the password (no factor on the account): the same session on a new link; the old link cannot mint it', async () => {
      const laptop = await tokens();
      const raised = await t.sut.stepUp(principal(laptop), { method: 'password', password: PASSWORD }, client);
      assert.equal(raised.session_id, laptop.session_id);
      assert.equal(tables.sessions.get(laptop.session_id)?.generation, 1);
      assert.equal((await rejection(t.sut.refresh(laptop.refresh_token!, client, noProof))).code, 'invalid_grant');
    });

    it('an account with a second factor steps up with it, not with the password', async () => {
      const laptop = await tokens();
      resolves(t.mock(MfaService).hasActiveFactor, true);
      assert.equal((await rejection(t.sut.stepUp(principal(laptop), { method: 'password', password: PASSWORD }, client))).code, 'validation_failed');
      assert.equal(tables.sessions.get(laptop.session_id)?.generation, 0);
    });
  });

  describe('logout and revoking sessions', () => {
    it("scope=others keeps the caller's session; scope=global ends all", async () => {
      const laptop = await tokens({ deviceId: 'laptop' });
      const phone = await tokens({ deviceId: 'phone' });
      await t.sut.logout(principal(laptop), 'others', client);
      assert.deepEqual(
        tables.live(alice.id).map((s) => s.id),
        [laptop.session_id],
      );
      assert.equal(tables.sessions.get(phone.session_id)?.revokedReason, 'user_logout');
      await t.sut.logout(principal(laptop), 'global', client);
      assert.equal(tables.live(alice.id).length, 0);
    });

    it('a user revokes only their own sessions: another user\'s id is "no such session", and stays', async () => {
      const mine = await tokens({ deviceId: 'laptop' });
      tables.addUser({ email: 'bob@example.test', password: PASSWORD });
      const bobs = await tokens({ email: 'bob@example.test', deviceId: 'bob-laptop' });
      const error = await rejection(t.sut.revokeOwnSession(principal(mine), bobs.session_id, client));
      assert.equal(error.statusCode, 404);
      assert.equal(tables.sessions.get(bobs.session_id)?.revokedAt, null);
      await t.sut.revokeOwnSession(principal(mine), mine.session_id, client);
      assert.equal(tables.sessions.get(mine.session_id)?.revokedReason, 'user_revoked');
      assert.deepEqual(
        calls(t.mock(TrustedDevices).forgetDevice).map(([userId, deviceId]) => [userId, deviceId]),
        [[alice.id, 'laptop']],
      );
    });
  });
});
