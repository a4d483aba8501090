import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { auditCount, column, occurrences, textColumns } from '../support/db';
import { Http, PASSWORD, Reply, Tokens, eventually, login, refresh, register, sleep, uniqueEmail, works } from '../support/http';
import { enrolTotp, firstStep, loginWithTotp, totpCode, verify } from '../support/mfa';
import { SmtpSink } from '../support/smtp';

const ADMIN_EMAIL = 'deletion-admin@example.com';
const ADMIN_PASSWORD = 'deletion admin password';
const DELETED = /account has been deleted/;
/** The admin's own address and browser: theirs, and expected to stay in the log. */
const ADMIN_CLIENT = { 'x-forwarded-for': '192.0.2.10', 'user-agent': 'AdminConsole/1.0' };

/** DELETE /me with a JSON body (or none). */
function deleteMe(http: Http, token: string, body?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Reply> {
  return http.request('DELETE', '/me', body, { token, headers });
}

/** Rows of the user left in the tables that hold rows per user (the users row itself included). */
async function rowsOf(app: TestApp, userId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const tables: Array<[string, string]> = [
    ['users', 'id'],
    ['sessions', 'user_id'],
    ['mfa_factors', 'user_id'],
    ['mfa_challenges', 'user_id'],
    ['recovery_codes', 'user_id'],
    ['trusted_devices', 'user_id'],
    ['webauthn_challenges', 'user_id'],
    ['account_links', 'user_id'],
    ['mail_outbox', 'user_id'],
  ];
  for (const [table, key] of tables)
    counts[table] = Number((await column<{ n: unknown }>(app, `SELECT COUNT(*) AS n FROM ${table} WHERE ${key} = ?`, [userId]))[0].n);
  return counts;
}

const nothingLeft = (counts: Record<string, number>) => Object.fromEntries(Object.keys(counts).map((k) => [k, 0]));

describe(`account deletion [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;
  let admin: Tokens;

  before(async () => {
    smtp = await SmtpSink.start();
    app = await startApp({ SMTP_URL: smtp.url, ADMIN_EMAIL, ADMIN_PASSWORD, TRUST_PROXY: 'true', REAUTH_MAX_AGE: '2s' });
    http = new Http(app.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
  });
  after(async () => {
    await app?.close();
    await smtp?.stop();
  });

  it('DELETE /me with the password: 202, every session revoked (account_deleted) and its tokens refused, every row gone, a mail confirms it, and the address registers again', async () => {
    const user = await register(http, uniqueEmail('delete-me'), PASSWORD, 'Ada Deleted');
    const phone = await login(http, user.email, PASSWORD, { deviceId: 'phone-0001' });
    const laptop = await login(http, user.email, PASSWORD, { deviceId: 'laptop-0001' });
    const other = await register(http);
    const otherTokens = await login(http, other.email);

    const r = await deleteMe(http, laptop.access_token, { password: PASSWORD });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.body, {});

    for (const t of [phone, laptop]) {
      assert.equal(await works(http, t), false, 'access token refused at once');
      assert.equal((await refresh(http, t.refresh_token)).body.error, 'invalid_grant');
    }
    const log = await column<{ session_id: string; reason: string; user_id: string }>(
      app,
      'SELECT session_id, reason, user_id FROM session_revocations WHERE user_id = ?',
      [user.id],
    );
    assert.deepEqual(log.map((l) => l.session_id).sort(), [phone.session_id, laptop.session_id].sort(), 'both revocations in the log the feed serves');
    assert.ok(log.every((l) => l.reason === 'account_deleted'));
    assert.deepEqual(await rowsOf(app, user.id), nothingLeft(await rowsOf(app, user.id)));

    const events = await column<{ type: string; actor_id: string; details: string }>(
      app,
      "SELECT type, actor_id, details FROM audit_events WHERE user_id = ? AND type = 'account_deleted'",
      [user.id],
    );
    assert.equal(events.length, 1);
    assert.equal(events[0].actor_id, user.id);
    assert.deepEqual(JSON.parse(events[0].details), { by: 'user', revokedSessions: 2 });
    assert.ok((await auditCount(app, 'user_registered', { userId: user.id })) === 1, "the account's history stays, by id");

    const mail = await smtp.next(user.email, DELETED);
    assert.match(mail.text, /as you asked/);
    assert.equal((await http.get(`/admin/users/${user.id}`, { token: admin.access_token })).status, 404);
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 401);
    assert.equal(await works(http, otherTokens), true, 'another user is untouched');

    const again = await http.post('/auth/register', { email: user.email, password: 'a new life password' });
    assert.equal(again.status, 201, again.text);
    assert.notEqual(again.body.user.id, user.id);
  });

  /** A new account whose verification mail is out: the mail's link row is written in the background, and must not land between two snapshots. */
  async function settledUser(): Promise<Awaited<ReturnType<typeof register>>> {
    const user = await register(http);
    await smtp.next(user.email, /Confirm your e-mail/);
    return user;
  }

  it('a wrong password: 401 invalid_credentials and nothing changes', async () => {
    const user = await settledUser();
    const t = await login(http, user.email);
    const before = await rowsOf(app, user.id);
    const r = await deleteMe(http, t.access_token, { password: 'not the password' });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.body.error, 'invalid_credentials');
    assert.deepEqual(await rowsOf(app, user.id), before);
    assert.equal(await works(http, t), true);
  });

  it('a "this wasn\'t me" report that still owes a reset: 403 forbidden, with or without the password, and nothing changes', async () => {
    const user = await settledUser();
    const t = await login(http, user.email);
    // The state a report leaves (test/e2e/device-alerts.test.ts walks the mailed link to it).
    await app.database.rows('UPDATE users SET password_reset_required_at = ? WHERE id = ?', [Date.now(), user.id]);
    const before = await rowsOf(app, user.id);
    for (const body of [{ password: PASSWORD }, {}]) {
      const r = await deleteMe(http, t.access_token, body);
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error, 'forbidden');
      assert.match(r.body.message, /before it can be deleted/);
    }
    assert.deepEqual(await rowsOf(app, user.id), before);
  });

  it('no password: allowed within REAUTH_MAX_AGE of the last authentication; after it, 401 insufficient_user_authentication until a step-up', async () => {
    const user = await register(http);
    const fresh = await login(http, user.email, PASSWORD, { deviceId: 'fresh-device' });
    const stale = await login(http, user.email, PASSWORD, { deviceId: 'stale-device' });
    await sleep(2100); // past REAUTH_MAX_AGE=2s
    const refused = await deleteMe(http, stale.access_token);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.body.error, 'insufficient_user_authentication');
    assert.match(refused.headers.get('www-authenticate') ?? '', /insufficient_user_authentication.*max_age=2/);
    assert.equal(await works(http, fresh), true, 'nothing changed');

    const stepped = await http.post('/me/step-up', { method: 'password', password: PASSWORD }, { token: stale.access_token });
    assert.equal(stepped.status, 200, stepped.text);
    const r = await deleteMe(http, stepped.body.access_token);
    assert.equal(r.status, 202, r.text);
    assert.equal(await works(http, fresh), false);
    assert.equal((await rowsOf(app, user.id)).users, 0);
  });

  it('an account with a second factor: an aal1 session is sent to step up; an aal2 one deletes, and factors and recovery codes go with it', async () => {
    const user = await register(http);
    const first = await login(http, user.email);
    const enrolled = await enrolTotp(http, first.access_token, Date.now());
    assert.ok((await rowsOf(app, user.id)).recovery_codes > 0);
    const { mfaToken } = await firstStep(http, user.email, { deviceId: 'trusting-device' });
    const aal2 = await verify(http, { mfaToken, method: 'totp', code: totpCode(enrolled.secret, Date.now() + 30_000), trustDevice: true });
    assert.equal(aal2.status, 200, aal2.text);
    // A trusted-device sign-in is honestly aal1: not enough, whatever the password.
    const aal1 = await login(http, user.email, PASSWORD, { deviceId: 'trusting-device', trustedDevice: aal2.body.trustedDevice });
    const refused = await deleteMe(http, aal1.access_token, { password: PASSWORD });
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.body.error, 'insufficient_user_authentication');
    assert.equal((await rowsOf(app, user.id)).users, 1);

    // (That sign-in replaced the device's aal2 session: another device proves the factor.)
    const step = await firstStep(http, user.email, { deviceId: 'second-device' });
    const again = await verify(http, { mfaToken: step.mfaToken, method: 'recovery_code', code: enrolled.recoveryCodes[0] });
    assert.equal(again.status, 200, again.text);
    const r = await deleteMe(http, again.body.access_token, { password: PASSWORD });
    assert.equal(r.status, 202, r.text);
    assert.equal(await works(http, aal1), false);
    assert.deepEqual(await rowsOf(app, user.id), nothingLeft(await rowsOf(app, user.id)));
  });

  it('DELETE /admin/users/:id: 202, the same effects, the admin recorded as actor; 404 unknown, 400 malformed, 403 for a non-admin', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const other = await register(http);
    const otherTokens = await login(http, other.email);
    assert.equal((await http.delete(`/admin/users/${user.id}`, { token: otherTokens.access_token })).status, 403, 'not for ordinary users');

    const r = await http.delete(`/admin/users/${user.id}`, { token: admin.access_token, headers: ADMIN_CLIENT });
    assert.equal(r.status, 202, r.text);
    assert.equal(await works(http, t), false);
    assert.deepEqual(await rowsOf(app, user.id), nothingLeft(await rowsOf(app, user.id)));
    const [event] = await column<{ actor_id: string; ip: string | null; details: string }>(
      app,
      "SELECT actor_id, ip, details FROM audit_events WHERE user_id = ? AND type = 'account_deleted'",
      [user.id],
    );
    assert.equal(event.actor_id, admin.user!.id);
    assert.equal(event.ip, '192.0.2.10', "the admin's own client is recorded");
    assert.equal(JSON.parse(event.details).by, 'admin');
    assert.match((await smtp.next(user.email, DELETED)).text, /An administrator deleted/);

    assert.equal((await http.delete(`/admin/users/${user.id}`, { token: admin.access_token })).status, 404, 'gone');
    assert.equal((await http.delete('/admin/users/not-an-id', { token: admin.access_token })).status, 400);
    assert.equal(await works(http, otherTokens), true);
  });

  it('never the last administrator: 403 through the admin route (themselves included) and DELETE /me; with a second admin, either may go', async () => {
    const selfByAdmin = await http.delete(`/admin/users/${admin.user!.id}`, { token: admin.access_token });
    assert.equal(selfByAdmin.status, 403, selfByAdmin.text);
    assert.equal(selfByAdmin.body.error, 'forbidden');
    const selfByMe = await deleteMe(http, admin.access_token, { password: ADMIN_PASSWORD });
    assert.equal(selfByMe.status, 403, selfByMe.text);
    assert.equal(await works(http, admin), true, 'nothing changed');

    const second = await register(http, uniqueEmail('second-admin'));
    await app.database.exec("UPDATE users SET role = 'admin' WHERE id = ?", [second.id]);
    const secondTokens = await login(http, second.email);
    const r = await http.delete(`/admin/users/${second.id}`, { token: admin.access_token });
    assert.equal(r.status, 202, r.text);
    assert.equal(await works(http, secondTokens), false);
    // The remaining one is the last again.
    assert.equal((await http.delete(`/admin/users/${admin.user!.id}`, { token: admin.access_token })).status, 403);
  });

  it('a deletion racing logins and refreshes of the same user: nothing survives it', async () => {
    for (let round = 0; round < 3; round++) {
      const user = await register(http);
      const devices: Tokens[] = [];
      for (let i = 0; i < 4; i++) devices.push(await login(http, user.email, PASSWORD, { deviceId: `race-${round}-${i}` }));
      const minted: Tokens[] = [];
      const keep = (reply: Reply) => reply.status === 200 && minted.push(reply.body);
      const racing = [
        ...devices.map((d) => refresh(http, d.refresh_token).then(keep)),
        ...[0, 1, 2, 3].map((i) => http.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: `race-new-${round}-${i}` }).then(keep)),
        deleteMe(http, devices[0].access_token, { password: PASSWORD }).then((r) => assert.equal(r.status, 202, r.text)),
        ...devices.map((d) => refresh(http, d.refresh_token).then(keep)),
      ];
      await Promise.all(racing);
      for (const t of [...devices, ...minted]) {
        assert.equal(await works(http, t), false, `round ${round}: an access token survived`);
        assert.equal((await refresh(http, t.refresh_token)).status, 400, `round ${round}: a refresh token survived`);
      }
      assert.equal((await rowsOf(app, user.id)).sessions, 0);
      assert.equal((await rowsOf(app, user.id)).users, 0);
    }
  });

  it('afterwards no e-mail, IP or user agent of the user is left anywhere in the database (every text column of every table)', async () => {
    const email = uniqueEmail('erased');
    const ip = '198.51.100.23';
    const ua = `ErasedBrowser/7.1 (deletion test ${process.pid})`;
    const as = { 'x-forwarded-for': ip, 'user-agent': ua };
    const name = `Erased Person ${process.pid}`;
    const registered = await http.post('/auth/register', { email, password: PASSWORD, name }, { headers: as });
    assert.equal(registered.status, 201);
    const userId = registered.body.user.id as string;
    // Everything that records a client: sign-ins on two devices (a new-device alert), a failed
    // one, a forgotten password, a second factor and a sign-in through it.
    const one = (await http.post('/auth/login', { email, password: PASSWORD, deviceId: 'erased-1', deviceName: 'Erased phone' }, { headers: as }))
      .body as Tokens;
    await http.post('/auth/login', { email, password: 'wrong password!' }, { headers: as });
    await http.post('/auth/login', { email, password: PASSWORD, deviceId: 'erased-2' }, { headers: as });
    await http.post('/auth/password/forgot', { email }, { headers: as });
    const enrolled = await enrolTotp(http, one.access_token, Date.now());
    const viaTotp = await loginWithTotp(http, email, enrolled.secret, Date.now() + 30_000, { deviceId: 'erased-3' });
    await http.post('/auth/login', { email, password: PASSWORD, deviceId: 'erased-4' }, { headers: as }); // a second step left pending
    await smtp.next(email, /Reset your/);

    // The scan sees them before (so it can see them at all) …
    assert.ok(
      (await textColumns(app)).some((c) => c.table === 'audit_events' && c.column === 'user_agent'),
      'the catalogue lists the audit columns',
    );
    for (const needle of [email, ip, ua]) assert.notDeepEqual(await occurrences(app, needle), [], `${needle} is there before`);

    const r = await deleteMe(http, viaTotp.access_token, { password: PASSWORD }, as);
    assert.equal(r.status, 202, r.text);
    await smtp.next(email, DELETED);
    // … and, once the confirmation is recorded as sent (its address erased with it), nowhere.
    await eventually(
      async () => Number((await column<{ n: unknown }>(app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'pending'"))[0].n) === 0,
      15_000,
      50,
    );
    for (const needle of [email, ip, ua, name]) assert.deepEqual(await occurrences(app, needle), [], `${needle} left behind`);
    assert.ok(
      ((await column<{ n: unknown }>(app, 'SELECT COUNT(*) AS n FROM audit_events WHERE user_id = ?', [userId]))[0].n as number) > 5,
      'the audit rows stay, by id',
    );
  });

  it('npm run cli -- users:delete <email>: the same deletion; refuses the last administrator', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, [join(__dirname, '../../src/cli/main.js'), ...args], {
        env: { ...process.env, ...app.env, LOG_LEVEL: 'error' },
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const done = await cli(['users:delete', user.email]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /deleted/);
    await eventually(async () => !(await works(http, t)), 10_000, 50);
    assert.equal((await rowsOf(app, user.id)).users, 0);
    const [event] = await column<{ actor_id: string | null; details: string }>(
      app,
      "SELECT actor_id, details FROM audit_events WHERE user_id = ? AND type = 'account_deleted'",
      [user.id],
    );
    assert.equal(event.actor_id, null);
    assert.equal(JSON.parse(event.details).by, 'operator');

    const last = await cli(['users:delete', ADMIN_EMAIL]);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /last administrator/);
    assert.equal((await cli(['users:delete', 'nobody-here@example.com'])).code, 1);
    assert.equal(await works(http, admin), true);
  });
});
