import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Clock } from '../../src/common/clock';
import { ShiftedClock } from '../support/clock';
import { freshDatabase, startApp, TestApp, TEST_DB } from '../support/app';
import { auditCount, column, sessionRow } from '../support/db';
import { Http, Tokens, decodeJwt, eventually, login, refresh, register, works } from '../support/http';
import { SmtpSink } from '../support/smtp';
import { enrolTotp, firstStep, totpCode, verify } from '../support/mfa';
import { addResourceServer } from '../support/resource-servers';
import { runCli } from '../support/processes';

const ADMIN_EMAIL = 'mfa-required-admin@example.com';
const ADMIN_PASSWORD = 'mfa required admin password';

describe(`MFA_REQUIRED=all: enrolment first, admins at aal2, admin reset [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;
  const clock = new ShiftedClock();
  const nextCode = (secret: string) => {
    clock.offsetMs += 30_000;
    return totpCode(secret, clock.now());
  };

  /** The admin, enrolled, on an aal2 session. */
  let admin: Tokens;
  let adminSecret: string;

  before(async () => {
    smtp = await SmtpSink.start();
    app = await startApp({ SMTP_URL: smtp.url, MFA_REQUIRED: 'all', AAL2_MAX_AGE: '1h', ADMIN_EMAIL, ADMIN_PASSWORD }, undefined, [
      { provide: Clock, useValue: clock },
    ]);
    http = new Http(app.url);
  });
  after(async () => {
    await app?.close();
    await smtp?.stop();
  });

  it('lets a user without a factor do nothing but enrol (and see themselves, their sessions, sign out) until they have one', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    assert.equal(decodeJwt(t.access_token).payload.mfa_enrollment_required, true);
    for (const path of ['/me', '/me/sessions', '/auth/session', '/me/factors'])
      assert.equal((await http.get(path, { token: t.access_token })).status, 200, path);
    const blocked = await http.post('/me/email/verification', undefined, { token: t.access_token });
    assert.equal(blocked.status, 403, blocked.text);
    assert.equal(blocked.body.error, 'mfa_enrollment_required');
    assert.equal((await http.get('/me/recovery-codes', { token: t.access_token })).body.error, 'mfa_enrollment_required');

    await enrolTotp(http, t.access_token, clock.now());
    const after = await refresh(http, t.refresh_token);
    assert.equal(after.status, 200, after.text);
    const claims = decodeJwt(after.body.access_token).payload;
    assert.equal(claims.mfa_enrollment_required, undefined);
    assert.equal(claims.acr, 'aal2');
    assert.equal((await http.get('/me/recovery-codes', { token: after.body.access_token })).status, 200);
  });

  it('keeps the enrolment block through a password step-up: only a first factor ends it', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const up = await http.post('/me/step-up', { method: 'password', password: 'correct horse battery' }, { token: t.access_token });
    assert.equal(up.status, 200, up.text);
    assert.equal(decodeJwt(up.body.access_token).payload.mfa_enrollment_required, true);
    assert.equal(
      Number((await column<{ f: number }>(app, 'SELECT mfa_enrollment_required AS f FROM sessions WHERE id = ?', [t.session_id]))[0].f),
      1,
      'the stored flag too',
    );
    assert.equal((await http.post('/me/email/verification', undefined, { token: up.body.access_token })).body.error, 'mfa_enrollment_required');
    const later = await refresh(http, up.body.refresh_token);
    assert.equal(later.status, 200, later.text);
    assert.equal(decodeJwt(later.body.access_token).payload.mfa_enrollment_required, true);
    assert.equal((await http.get('/me/recovery-codes', { token: later.body.access_token })).body.error, 'mfa_enrollment_required');
  });

  it('asks admins for aal2 on every /admin route: enrolment first, then a step-up once the session lapses to aal1', async () => {
    const t = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    const first = await http.get('/admin/users', { token: t.access_token });
    assert.equal(first.status, 403, first.text);
    assert.equal(first.body.error, 'mfa_enrollment_required');
    adminSecret = (await enrolTotp(http, t.access_token, clock.now())).secret;
    admin = (await refresh(http, t.refresh_token)).body;
    const listed = await http.get(`/admin/users?q=${encodeURIComponent(ADMIN_EMAIL)}`, { token: admin.access_token });
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.items[0].mfaEnabled, true);

    clock.offsetMs += 2 * 3600_000;
    const lapsed = (await refresh(http, admin.refresh_token)).body;
    const challenged = await http.get('/admin/users', { token: lapsed.access_token });
    assert.equal(challenged.status, 401, challenged.text);
    assert.equal(challenged.body.error, 'insufficient_user_authentication');
    assert.equal(challenged.body.acrValues, 'aal2');
    assert.match(challenged.headers.get('www-authenticate') ?? '', /error="insufficient_user_authentication", acr_values="aal2"/);
    // Logout is never gated.
    const up = await http.post('/me/step-up', { method: 'totp', code: nextCode(adminSecret) }, { token: lapsed.access_token });
    assert.equal(up.status, 200, up.text);
    admin = up.body;
    assert.equal((await http.get('/admin/users', { token: admin.access_token })).status, 200);
  });

  it('answers introspection with active: false for the tokens of a session that must still enrol, and active once it has', async () => {
    const rs = await addResourceServer(http, admin.access_token, 'enrolment-api');
    const introspect = async (token: string) => (await http.post('/auth/introspect', { token }, { form: true, headers: { authorization: rs.basic } })).body;
    const user = await register(http);
    const t = await login(http, user.email);
    assert.deepEqual(await introspect(t.access_token), { active: false });
    assert.deepEqual(await introspect(t.refresh_token), { active: false });
    await enrolTotp(http, t.access_token, clock.now());
    const enrolled = (await refresh(http, t.refresh_token)).body;
    const seen = await introspect(enrolled.access_token);
    assert.equal(seen.active, true);
    assert.equal(seen.sub, user.id);
    assert.equal((await introspect(enrolled.refresh_token)).active, true);
  });

  it("resets a user's second factors: factors, codes and trusted devices gone, every session signed out (mfa_reset), the user mailed; never the admin's own", async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const enrolled = await enrolTotp(http, t.access_token, clock.now());
    const s1 = await firstStep(http, user.email, { deviceId: 'reset-device' });
    const done = await verify(http, { mfaToken: s1.mfaToken, method: 'totp', code: nextCode(enrolled.secret), trustDevice: true });
    assert.equal(done.status, 200, done.text);

    const factors = await http.get(`/admin/users/${user.id}/factors`, { token: admin.access_token });
    assert.equal(factors.status, 200, factors.text);
    assert.equal(factors.body.items.length, 1);
    assert.equal(JSON.stringify(factors.body).includes(enrolled.secret), false);
    assert.equal((await http.get(`/admin/users/${user.id}`, { token: admin.access_token })).body.mfaEnabled, true);

    const own = await http.post(`/admin/users/${decodeJwt(admin.access_token).payload.sub}/mfa/reset`, undefined, { token: admin.access_token });
    assert.equal(own.status, 403, own.text);
    assert.equal(own.body.error, 'forbidden');

    const reset = await http.post(`/admin/users/${user.id}/mfa/reset`, undefined, { token: admin.access_token });
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual(reset.body, { removed: 1 });
    assert.equal(await works(http, done.body), false);
    assert.equal((await sessionRow(app, done.body.session_id)).revoked_reason, 'mfa_reset');
    for (const table of ['mfa_factors', 'recovery_codes', 'trusted_devices'])
      assert.equal((await column(app, `SELECT id FROM ${table} WHERE user_id = ?`, [user.id])).length, 0, table);
    assert.equal(await auditCount(app, 'mfa_reset', { userId: user.id }), 1);
    await smtp.next(user.email, /second factors were reset/);
    assert.equal((await http.get(`/admin/users/${user.id}`, { token: admin.access_token })).body.mfaEnabled, false);
    // One step again, and (MFA_REQUIRED) straight to enrolment.
    const again = await login(http, user.email, undefined, { deviceId: 'reset-device', trustedDevice: done.body.trustedDevice });
    assert.equal(decodeJwt(again.access_token).payload.mfa_enrollment_required, true);

    assert.equal((await http.post(`/admin/users/00000000-0000-7000-8000-000000000000/mfa/reset`, undefined, { token: admin.access_token })).status, 404);
  });

  it('removes one factor of a user (admin), and the CLI resets a sole admin who lost their device', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const enrolled = await enrolTotp(http, t.access_token, clock.now());
    // Not their own: that would skip the aal2 and REAUTH_MAX_AGE gates of /me/factors.
    const adminId = decodeJwt(admin.access_token).payload.sub;
    const ownFactors = (await http.get(`/admin/users/${adminId}/factors`, { token: admin.access_token })).body.items;
    assert.equal(ownFactors.length, 1);
    const own = await http.delete(`/admin/users/${adminId}/factors/${ownFactors[0].id}`, { token: admin.access_token });
    assert.equal(own.status, 403, own.text);
    assert.equal(own.body.error, 'forbidden');
    assert.equal((await http.get(`/admin/users/${adminId}/factors`, { token: admin.access_token })).body.items.length, 1);

    const removed = await http.delete(`/admin/users/${user.id}/factors/${enrolled.factorId}`, { token: admin.access_token });
    assert.equal(removed.status, 204, removed.text);
    assert.equal((await http.delete(`/admin/users/${user.id}/factors/${enrolled.factorId}`, { token: admin.access_token })).status, 404);
    assert.equal(await auditCount(app, 'mfa_factor_removed', { userId: user.id }), 1);
    await smtp.next(user.email, /Two-step sign-in is off/);

    const done = await runCli(app, ['mfa:reset', ADMIN_EMAIL]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /1 second factor\(s\) removed/);
    // Another process revoked them: this instance learns it from the revocation log.
    await eventually(async () => !(await works(http, admin)), 10_000, 50);
    assert.equal((await runCli(app, ['mfa:reset', 'nobody@example.com'])).code, 1);
    const back = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert.ok(back.access_token, 'one step again');
  });
});

describe(`MFA_REQUIRED reaches sessions opened before it [${TEST_DB}]`, () => {
  const database = freshDatabase();
  let app: TestApp | undefined;
  after(async () => {
    await app?.close();
    await database.drop();
  });

  it('turned on (all) over live sessions: the next refresh mints a token for enrolment only', async () => {
    app = await startApp({ MFA_REQUIRED: 'off' }, database);
    let http = new Http(app.url);
    const user = await register(http);
    const t = await login(http, user.email);
    assert.equal(decodeJwt(t.access_token).payload.mfa_enrollment_required, undefined);
    await app.close();

    app = await startApp({ MFA_REQUIRED: 'all' }, database);
    http = new Http(app.url);
    const r = await refresh(http, t.refresh_token);
    assert.equal(r.status, 200, r.text);
    assert.equal(decodeJwt(r.body.access_token).payload.mfa_enrollment_required, true);
    const blocked = await http.get('/me/recovery-codes', { token: r.body.access_token });
    assert.equal(blocked.status, 403, blocked.text);
    assert.equal(blocked.body.error, 'mfa_enrollment_required');
    assert.equal((await http.post('/me/email/verification', undefined, { token: r.body.access_token })).body.error, 'mfa_enrollment_required');
    for (const path of ['/me', '/me/factors']) assert.equal((await http.get(path, { token: r.body.access_token })).status, 200, path);
    await enrolTotp(http, r.body.access_token, Date.now());
    const enrolled = await refresh(http, r.body.refresh_token);
    assert.equal(decodeJwt(enrolled.body.access_token).payload.mfa_enrollment_required, undefined);
    assert.equal((await http.get('/me/recovery-codes', { token: enrolled.body.access_token })).status, 200);
  });

  it('a promotion under MFA_REQUIRED=admin: the refresh that brings the admin role brings the enrolment requirement with it', async () => {
    await app?.close();
    app = await startApp({ MFA_REQUIRED: 'admin' }, database);
    const http = new Http(app.url);
    const user = await register(http);
    const t = await login(http, user.email);
    assert.equal(decodeJwt(t.access_token).payload.mfa_enrollment_required, undefined);
    const promoted = await runCli(app, ['promote', user.email]);
    assert.equal(promoted.code, 0, promoted.stderr);
    const r = await refresh(http, t.refresh_token);
    assert.equal(r.status, 200, r.text);
    const claims = decodeJwt(r.body.access_token).payload;
    assert.equal(claims.role, 'admin');
    assert.equal(claims.mfa_enrollment_required, true);
    const blocked = await http.get('/admin/users', { token: r.body.access_token });
    assert.equal(blocked.status, 403, blocked.text);
    assert.equal(blocked.body.error, 'mfa_enrollment_required');
    await enrolTotp(http, r.body.access_token, Date.now());
    const enrolled = await refresh(http, r.body.refresh_token);
    assert.equal(enrolled.status, 200, enrolled.text);
    assert.equal(decodeJwt(enrolled.body.access_token).payload.mfa_enrollment_required, undefined);
    assert.equal((await http.get('/admin/users', { token: enrolled.body.access_token })).status, 200);
  });
});
