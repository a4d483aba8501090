import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Clock } from '../../src/common/clock';
import { MfaHousekeeping } from '../../src/mfa/mfa-housekeeping';
import { MfaService } from '../../src/mfa/mfa.service';
import { FactorsService } from '../../src/mfa/factors.service';
import { ApiError } from '../../src/common/api-error';
import { ShiftedClock } from '../support/clock';
import { startApp, startAppAtOwnUrl, TestApp, TEST_DB } from '../support/app';
import { auditCount, column, sessionRow } from '../support/db';
import { Http, Tokens, decodeJwt, login, refresh, register, works } from '../support/http';
import { dpopKey, dpopProof } from '../support/dpop';
import { SmtpSink, tokenOf } from '../support/smtp';
import { enrolTotp, firstStep, totpCode, verify } from '../support/mfa';
import { addResourceServer, ResourceServerCredentials } from '../support/resource-servers';

const ADMIN_EMAIL = 'mfa-admin@example.com';
const ADMIN_PASSWORD = 'mfa admin password';

const STEP_MS = 30_000;

describe(`second factor: two-step login, TOTP, recovery codes, step-up [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;
  const clock = new ShiftedClock();
  let resourceServer: ResourceServerCredentials;
  const introspect = async (token: string) =>
    (await http.post('/auth/introspect', { token }, { form: true, headers: { authorization: resourceServer.basic } })).body;

  /** The next 30-second step's code: each code (and step) works once per factor, so every use moves time on. */
  const nextCode = (secret: string) => {
    clock.offsetMs += STEP_MS;
    return totpCode(secret, clock.now());
  };

  /** DPoP proofs are dated by latchkey's clock. */
  const nowS = () => Math.floor(clock.now() / 1000);
  /** The session holding `token` changes the password it registered with (PUT, or `method`). */
  const changePassword = (token: string, newPassword: string, method = 'PUT') =>
    http.request(method, '/me/password', { currentPassword: 'correct horse battery', newPassword }, { token });

  /** A new user with an authenticator app, enrolled from a first session (returned). */
  async function enrolledUser(): Promise<{ email: string; id: string; secret: string; recoveryCodes: string[]; factorId: string; first: Tokens }> {
    const user = await register(http);
    const first = await login(http, user.email);
    const enrolled = await enrolTotp(http, first.access_token, clock.now());
    return { ...user, ...enrolled, first };
  }

  before(async () => {
    smtp = await SmtpSink.start();
    app = await startAppAtOwnUrl({ SMTP_URL: smtp.url, AAL2_MAX_AGE: '1h', REFRESH_REUSE_GRACE: '30s', ADMIN_EMAIL, ADMIN_PASSWORD }, undefined, [
      { provide: Clock, useValue: clock },
    ]);
    http = new Http(app.url);
    resourceServer = await addResourceServer(http, (await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token, 'mfa-api');
  });
  after(async () => {
    await app?.close();
    await smtp?.stop();
  });

  it('enrols an authenticator: pending until its first code; the first factor raises this session, signs out the others, returns 10 recovery codes once and mails the user', async () => {
    const user = await register(http);
    const first = await login(http, user.email);
    const other = await login(http, user.email);
    const added = await http.post('/me/factors/totp', { name: 'Phone' }, { token: first.access_token });
    assert.equal(added.status, 201, added.text);
    assert.match(added.body.otpauthUri, /^otpauth:\/\/totp\/.*secret=[A-Z2-7]+.*algorithm=SHA1.*digits=6.*period=30/);
    assert.equal(added.headers.get('cache-control'), 'no-store');
    const listed = await http.get('/me/factors', { token: first.access_token });
    assert.deepEqual(
      listed.body.items.map((f: { name: string; active: boolean; type: string }) => [f.type, f.name, f.active]),
      [['totp', 'Phone', false]],
    );
    // A pending factor does not make the login two-step, and is not a factor to verify with.
    assert.ok((await login(http, user.email)).access_token);

    const wrong = await http.post(
      `/me/factors/${added.body.id}/verify`,
      { code: '000000' === totpCode(added.body.secret, clock.now()) ? '111111' : '000000' },
      { token: first.access_token },
    );
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal(wrong.body.error, 'invalid_credentials');

    const verified = await http.post(`/me/factors/${added.body.id}/verify`, { code: totpCode(added.body.secret, clock.now()) }, { token: first.access_token });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.body.active, true);
    assert.equal(verified.body.recoveryCodes.length, 10);
    assert.equal(new Set(verified.body.recoveryCodes).size, 10);
    assert.equal(JSON.stringify(verified.body).includes(added.body.secret), false, 'the secret is shown once, at creation');

    // Every other session was opened with the password alone: signed out, as mfa_enabled.
    assert.equal(await works(http, other), false);
    assert.equal((await sessionRow(app, other.session_id)).revoked_reason, 'mfa_enabled');
    // This one refreshes to aal2.
    const raised = await refresh(http, first.refresh_token);
    assert.equal(raised.status, 200, raised.text);
    const claims = decodeJwt(raised.body.access_token).payload;
    assert.equal(claims.acr, 'aal2');
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(await auditCount(app, 'mfa_factor_added', { userId: user.id }), 1);
    const mail = await smtp.next(user.email, /Two-step sign-in is on/);
    assert.ok(!mail.text.includes(verified.body.recoveryCodes[0]), 'no code in the mail');
    // The secret is sealed at rest.
    const [row] = await column<{ totp_secret: string }>(app, 'SELECT totp_secret FROM mfa_factors WHERE id = ?', [added.body.id]);
    assert.ok(!row.totp_secret.includes(added.body.secret));
    const codes = await column<{ code_hash: string }>(app, 'SELECT code_hash FROM recovery_codes WHERE user_id = ?', [user.id]);
    assert.equal(codes.length, 10);
    assert.ok(codes.every((c) => !verified.body.recoveryCodes.some((code: string) => c.code_hash.includes(code.replace('-', '')))));
  });

  it('a login with a factor holds no token until its second step; the second step answers as a login does, once', async () => {
    const u = await enrolledUser();
    const sessionsBefore = (await column(app, 'SELECT id FROM sessions WHERE user_id = ?', [u.id])).length;
    const step1 = await http.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId: 'device-two-step', deviceName: 'Laptop' });
    assert.equal(step1.status, 200, step1.text);
    assert.deepEqual(Object.keys(step1.body).sort(), ['expiresIn', 'methods', 'mfaRequired', 'mfaToken']);
    assert.equal(step1.body.expiresIn, 300);
    assert.deepEqual(step1.body.methods, ['totp', 'recovery_code']);
    assert.equal(step1.headers.get('cache-control'), 'no-store');
    assert.equal((await column(app, 'SELECT id FROM sessions WHERE user_id = ?', [u.id])).length, sessionsBefore, 'no session before the second step');
    // The mfaToken is no token anywhere.
    assert.equal((await http.get('/me', { token: step1.body.mfaToken })).status, 401);
    assert.equal((await refresh(http, step1.body.mfaToken)).status, 400);
    // Only a MAC of it is stored.
    const stored = await column<{ token_mac: string }>(app, 'SELECT token_mac FROM mfa_challenges WHERE user_id = ?', [u.id]);
    assert.ok(stored.every((r) => !step1.body.mfaToken.includes(r.token_mac) && r.token_mac.length === 64));

    const done = await verify(http, { mfaToken: step1.body.mfaToken, method: 'totp', code: nextCode(u.secret) });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.token_type, 'Bearer');
    assert.ok(done.body.refresh_token);
    assert.equal(done.body.device_id, 'device-two-step');
    assert.equal((done.body as unknown as { user: { email: string } }).user.email, u.email);
    const claims = decodeJwt(done.body.access_token).payload;
    assert.equal(claims.acr, 'aal2');
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok(Math.abs(claims.auth_time - Math.floor(clock.now() / 1000)) <= 2);
    const mine = await http.get('/me/sessions', { token: done.body.access_token });
    const current = mine.body.items.find((s: { current: boolean }) => s.current);
    assert.equal(current.acr, 'aal2');
    assert.equal(current.deviceName, 'Laptop');
    assert.ok(current.authTime);

    const again = await verify(http, { mfaToken: step1.body.mfaToken, method: 'totp', code: nextCode(u.secret) });
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_mfa_token');
    for (const bogus of ['nope', `${step1.body.mfaToken.split('.')[0]}.${'A'.repeat(43)}`]) {
      const r = await verify(http, { mfaToken: bogus, method: 'totp', code: '123456' });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.body.error, 'invalid_mfa_token');
    }
  });

  it('refuses a TOTP code, or any code of its step or an earlier one, a second time; accepts ±1 step of drift and no more', async () => {
    const u = await enrolledUser();
    const used = nextCode(u.secret);
    const a = await firstStep(http, u.email);
    assert.equal((await verify(http, { mfaToken: a.mfaToken, method: 'totp', code: used })).status, 200);
    const b = await firstStep(http, u.email);
    const replay = await verify(http, { mfaToken: b.mfaToken, method: 'totp', code: used });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error, 'invalid_credentials');
    // A code of the next step is inside the window (a fast clock on the phone)…
    const ahead = totpCode(u.secret, clock.now() + STEP_MS);
    assert.equal((await verify(http, { mfaToken: b.mfaToken, method: 'totp', code: ahead })).status, 200);
    // …and once it was used, the current step's code (earlier) is refused too.
    const c = await firstStep(http, u.email);
    assert.equal((await verify(http, { mfaToken: c.mfaToken, method: 'totp', code: totpCode(u.secret, clock.now()) })).body.error, 'invalid_credentials');
    // Two steps away is outside the window.
    assert.equal(
      (await verify(http, { mfaToken: c.mfaToken, method: 'totp', code: totpCode(u.secret, clock.now() + 3 * STEP_MS) })).body.error,
      'invalid_credentials',
    );
    clock.offsetMs += 3 * STEP_MS;
    assert.equal((await verify(http, { mfaToken: c.mfaToken, method: 'totp', code: totpCode(u.secret, clock.now()) })).status, 200);
    assert.ok((await auditCount(app, 'mfa_failed', { userId: u.id })) >= 3);
  });

  it('ends an mfaToken after 5 wrong codes, and an expired one is refused', async () => {
    const u = await enrolledUser();
    const { mfaToken } = await firstStep(http, u.email);
    for (let i = 0; i < 5; i++) {
      const r = await verify(http, { mfaToken, method: 'totp', code: '12345' + i });
      assert.equal(r.body.error, 'invalid_credentials', r.text);
    }
    const dead = await verify(http, { mfaToken, method: 'totp', code: nextCode(u.secret) });
    assert.equal(dead.status, 401);
    assert.equal(dead.body.error, 'invalid_mfa_token');

    const late = await firstStep(http, u.email);
    clock.offsetMs += 301_000;
    const expired = await verify(http, { mfaToken: late.mfaToken, method: 'totp', code: totpCode(u.secret, clock.now()) });
    assert.equal(expired.body.error, 'invalid_mfa_token');
  });

  it('a password change or reset ends the pending mfaTokens of the account: one issued before it is refused even with the right code', async () => {
    const u = await enrolledUser();
    const t = (await refresh(http, u.first.refresh_token)).body;
    const { mfaToken } = await firstStep(http, u.email);
    const changed = await changePassword(t.access_token, 'a pending-token password 1');
    assert.equal(changed.status, 200, changed.text);
    const late = await verify(http, { mfaToken, method: 'totp', code: nextCode(u.secret) });
    assert.equal(late.status, 401, late.text);
    assert.equal(late.body.error, 'invalid_mfa_token');

    // A reset too (the same replacement): the one who asked for it may not be the one holding the token.
    const pending = await http.post('/auth/login', { email: u.email, password: 'a pending-token password 1' });
    assert.equal(pending.body.mfaRequired, true, pending.text);
    assert.equal((await http.post('/auth/password/forgot', { email: u.email })).status, 202);
    const reset = await http.post('/auth/password/reset', {
      token: tokenOf(await smtp.next(u.email, /Reset your/), 'reset-password'),
      newPassword: 'a pending-token password 2',
    });
    assert.equal(reset.status, 200, reset.text);
    const afterReset = await verify(http, { mfaToken: pending.body.mfaToken, method: 'totp', code: nextCode(u.secret) });
    assert.equal(afterReset.body.error, 'invalid_mfa_token', afterReset.text);
  });

  it('housekeeping deletes spent mfaTokens a day after they expired, and expired trusted-device tokens', async () => {
    const u = await enrolledUser();
    const { mfaToken } = await firstStep(http, u.email, { deviceId: 'housekeeping-device' });
    assert.equal((await verify(http, { mfaToken, method: 'totp', code: nextCode(u.secret), trustDevice: true })).status, 200);
    const count = async (table: string) => Number((await column<{ n: number }>(app, `SELECT COUNT(*) AS n FROM ${table} WHERE user_id = ?`, [u.id]))[0].n);
    const housekeeping = app.app.get(MfaHousekeeping);
    await housekeeping.run(clock.now());
    assert.deepEqual([await count('mfa_challenges'), await count('trusted_devices')], [1, 1], 'nothing live goes');
    await housekeeping.run(clock.now() + 2 * 86_400_000);
    assert.deepEqual([await count('mfa_challenges'), await count('trusted_devices')], [0, 1]);
    await housekeeping.run(clock.now() + 31 * 86_400_000);
    assert.equal(await count('trusted_devices'), 0);
  });

  it('carries cookie mode and the DPoP key of the login through its second step', async () => {
    const u = await enrolledUser();
    const key = await dpopKey();
    const cookieJar = new Http(app.url);
    const s1 = await firstStep(cookieJar, u.email, { useCookie: true }, { dpop: await dpopProof(key, 'POST', `${app.url}/auth/login`, { iat: nowS() }) });
    // Without a proof by the same key: refused, and nothing consumed.
    const unproven = await verify(cookieJar, { mfaToken: s1.mfaToken, method: 'totp', code: nextCode(u.secret) });
    assert.equal(unproven.status, 400, unproven.text);
    assert.equal(unproven.body.error, 'invalid_dpop_proof');
    const otherKey = await verify(
      cookieJar,
      { mfaToken: s1.mfaToken, method: 'totp', code: nextCode(u.secret) },
      { dpop: await dpopProof(await dpopKey(), 'POST', `${app.url}/auth/mfa/verify`, { iat: nowS() }) },
    );
    assert.equal(otherKey.body.error, 'invalid_dpop_proof');
    const done = await verify(
      cookieJar,
      { mfaToken: s1.mfaToken, method: 'totp', code: nextCode(u.secret) },
      { dpop: await dpopProof(key, 'POST', `${app.url}/auth/mfa/verify`, { iat: nowS() }) },
    );
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.token_type, 'DPoP');
    assert.equal(done.body.refresh_token, undefined, 'cookie mode: the refresh token is in the cookie');
    assert.equal(decodeJwt(done.body.access_token).payload.cnf.jkt, key.jkt);
    assert.ok([...cookieJar.cookies.keys()].some((k) => k.includes('latchkey_refresh')));
    const refreshed = await cookieJar.post(
      '/auth/token',
      { grant_type: 'refresh_token' },
      { form: true, headers: { 'x-latchkey-csrf': '1', dpop: await dpopProof(key, 'POST', `${app.url}/auth/token`, { iat: nowS() }) } },
    );
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal(decodeJwt(refreshed.body.access_token).payload.acr, 'aal2');
  });

  it('lets exactly one of two concurrent second steps of one mfaToken open a session', async () => {
    const u = await enrolledUser();
    for (let round = 0; round < 3; round++) {
      const { mfaToken } = await firstStep(http, u.email, { deviceId: `race-device-${round}` });
      const before = (await column(app, 'SELECT id FROM sessions WHERE user_id = ?', [u.id])).length;
      const answers = await Promise.all([
        verify(http, { mfaToken, method: 'totp', code: nextCode(u.secret) }),
        verify(http, { mfaToken, method: 'recovery_code', code: u.recoveryCodes[round] }),
      ]);
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401], answers.map((a) => a.text).join(' | '));
      assert.equal((await column(app, 'SELECT id FROM sessions WHERE user_id = ?', [u.id])).length, before + 1, 'one session opened');
    }
  });

  it('of two concurrent first-factor activations, exactly one is the first (the only one answered with recovery codes)', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const added = [];
    for (const name of ['Phone A', 'Phone B']) {
      const r = await http.post('/me/factors/totp', { name }, { token: t.access_token });
      assert.equal(r.status, 201, r.text);
      added.push(r.body as { id: string; secret: string });
    }
    // Straight to the service, both in one tick: each reads the factor list before either commits.
    const claims = decodeJwt(t.access_token).payload;
    const caller = { userId: user.id, sessionId: t.session_id, acr: claims.acr, amr: claims.amr, authTime: claims.auth_time * 1000 };
    const client = { ip: '127.0.0.1', userAgent: 'concurrent-activations' };
    const factors = app.app.get(FactorsService);
    const code = (secret: string) => totpCode(secret, clock.now());
    const activated = await Promise.all(added.map((f) => factors.activateTotp(caller, f.id, code(f.secret), client)));
    assert.deepEqual(
      activated.map((a) => a.active),
      [true, true],
    );
    assert.equal(activated.filter((a) => a.recoveryCodes).length, 1, 'one first factor');
    assert.equal((await column(app, 'SELECT id FROM recovery_codes WHERE user_id = ?', [user.id])).length, 10);
  });

  it('takes a recovery code once, as a second factor only, and mails the user each time', async () => {
    const u = await enrolledUser();
    const [code] = u.recoveryCodes;
    // Not a password.
    assert.equal((await http.post('/auth/login', { email: u.email, password: code })).status, 401);
    const a = await firstStep(http, u.email);
    const used = await verify(http, { mfaToken: a.mfaToken, method: 'recovery_code', code: code.toUpperCase() });
    assert.equal(used.status, 200, used.text);
    assert.equal(decodeJwt(used.body.access_token).payload.acr, 'aal2');
    const b = await firstStep(http, u.email);
    const again = await verify(http, { mfaToken: b.mfaToken, method: 'recovery_code', code });
    assert.equal(again.body.error, 'invalid_credentials');
    assert.equal((await http.get('/me/recovery-codes', { token: used.body.access_token })).body.remaining, 9);
    assert.equal(await auditCount(app, 'recovery_code_used', { userId: u.id }), 1);
    await smtp.next(u.email, /A recovery code was used/);

    // A new set: the old codes die.
    const fresh = await http.post('/me/recovery-codes', undefined, { token: used.body.access_token });
    assert.equal(fresh.status, 201, fresh.text);
    assert.equal(fresh.body.recoveryCodes.length, 10);
    const c = await firstStep(http, u.email);
    assert.equal((await verify(http, { mfaToken: c.mfaToken, method: 'recovery_code', code: u.recoveryCodes[1] })).body.error, 'invalid_credentials');
    assert.equal((await verify(http, { mfaToken: c.mfaToken, method: 'recovery_code', code: fresh.body.recoveryCodes[0] })).status, 200);
  });

  it('refreshes copy acr, amr and auth_time and never raise them; an aal2 older than AAL2_MAX_AGE refreshes down to aal1', async () => {
    const u = await enrolledUser();
    const { mfaToken } = await firstStep(http, u.email);
    const t = (await verify(http, { mfaToken, method: 'totp', code: nextCode(u.secret) })).body;
    const at = decodeJwt(t.access_token).payload;
    clock.offsetMs += 60_000;
    const seen = await introspect(t.access_token);
    assert.deepEqual([seen.acr, seen.amr, seen.auth_time], [at.acr, at.amr, at.auth_time], 'resource servers see the assurance too');
    const chain = await introspect(t.refresh_token);
    assert.deepEqual([chain.acr, chain.amr, chain.auth_time], [at.acr, at.amr, at.auth_time]);
    const r1 = await refresh(http, t.refresh_token);
    const c1 = decodeJwt(r1.body.access_token).payload;
    assert.deepEqual([c1.acr, c1.amr, c1.auth_time], [at.acr, at.amr, at.auth_time]);
    clock.offsetMs += 2 * 3600_000;
    const r2 = await refresh(http, r1.body.refresh_token);
    const c2 = decodeJwt(r2.body.access_token).payload;
    assert.equal(c2.acr, 'aal1');
    assert.equal(c2.auth_time, at.auth_time);
    assert.equal((await introspect(r2.body.refresh_token)).acr, 'aal1');
    // The introspection and the session list agree.
    const mine = await http.get('/me/sessions', { token: r2.body.access_token });
    assert.equal(mine.body.items.find((s: { current: boolean }) => s.current).acr, 'aal1');
    // A password-only session stays aal1 with pwd.
    const plain = await login(http, (await register(http)).email);
    const p = decodeJwt((await refresh(http, plain.refresh_token)).body.access_token).payload;
    assert.deepEqual([p.acr, p.amr], ['aal1', ['pwd']]);
  });

  it('steps up the same session on a new link; a link from before the step-up can never mint aal2, not even inside the grace window', async () => {
    const u = await enrolledUser();
    const { mfaToken } = await firstStep(http, u.email);
    let t: Tokens = (await verify(http, { mfaToken, method: 'totp', code: nextCode(u.secret) })).body;
    // Let the session lapse to aal1 and refresh there.
    clock.offsetMs += 2 * 3600_000;
    t = (await refresh(http, t.refresh_token)).body;
    assert.equal(decodeJwt(t.access_token).payload.acr, 'aal1');
    const gated = await http.delete(`/me/factors/${u.factorId}`, { token: t.access_token });
    assert.equal(gated.status, 401, gated.text);
    assert.equal(gated.body.error, 'insufficient_user_authentication');
    assert.equal(gated.body.acrValues, 'aal2');
    assert.match(gated.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_user_authentication", acr_values="aal2"/);

    const options = await http.post('/me/step-up/options', undefined, { token: t.access_token });
    assert.deepEqual(options.body.methods, ['totp', 'recovery_code']);
    const wrong = await http.post('/me/step-up', { method: 'totp', code: '000001' }, { token: t.access_token });
    assert.equal(wrong.body.error, 'invalid_credentials');
    const up = await http.post('/me/step-up', { method: 'totp', code: nextCode(u.secret) }, { token: t.access_token });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.body.session_id, t.session_id, 'the same session');
    assert.notEqual(up.body.refresh_token, t.refresh_token);
    const claims = decodeJwt(up.body.access_token).payload;
    assert.equal(claims.acr, 'aal2');
    assert.ok(claims.auth_time > decodeJwt(t.access_token).payload.auth_time);
    assert.equal(await auditCount(app, 'step_up_succeeded', { userId: u.id }), 1);

    // The trap: the link from before the step-up, inside REFRESH_REUSE_GRACE (30s), gets nothing
    // (it would otherwise re-mint the raised link) and revokes nothing.
    const old = await refresh(http, t.refresh_token);
    assert.equal(old.status, 400, old.text);
    assert.equal(old.body.error, 'invalid_grant');
    assert.equal((await sessionRow(app, t.session_id)).revoked_at, null);
    const next = await refresh(http, up.body.refresh_token);
    assert.equal(next.status, 200, next.text);
    assert.equal(decodeJwt(next.body.access_token).payload.acr, 'aal2');
    // An ordinary rotation afterwards keeps its grace window.
    const graced = await refresh(http, up.body.refresh_token);
    assert.equal(graced.status, 200, graced.text);
    assert.equal(graced.body.refresh_token, next.body.refresh_token);
  });

  it('gates factor changes on aal2 and a recent authentication (REAUTH_MAX_AGE), and a password change on aal2 once there is a factor; never logout or revoking my sessions', async () => {
    const u = await enrolledUser();
    // The enrolling session is aal2 once refreshed.
    let t = (await refresh(http, u.first.refresh_token)).body;
    assert.equal(decodeJwt(t.access_token).payload.acr, 'aal2');
    clock.offsetMs += 16 * 60_000;
    // The access token of 16 minutes ago has expired (15m); a refresh keeps the old auth_time.
    t = (await refresh(http, t.refresh_token)).body;
    const stale = await http.post('/me/factors/totp', {}, { token: t.access_token });
    assert.equal(stale.status, 401, stale.text);
    assert.equal(stale.body.error, 'insufficient_user_authentication');
    assert.equal(stale.body.maxAge, 900);
    assert.match(stale.headers.get('www-authenticate') ?? '', /max_age=900/);
    const up = (await http.post('/me/step-up', { method: 'totp', code: nextCode(u.secret) }, { token: t.access_token })).body;
    const fresh = await http.post('/me/factors/totp', { name: 'Second phone' }, { token: up.access_token });
    assert.equal(fresh.status, 201, fresh.text);

    // A session that never proved the factor (aal1: the AAL2_MAX_AGE passed) may not change the password.
    clock.offsetMs += 2 * 3600_000;
    const lapsed = (await refresh(http, up.refresh_token)).body;
    for (const method of ['PUT', 'POST']) {
      const r = await changePassword(lapsed.access_token, 'a new password 123', method);
      assert.equal(r.status, 401, r.text);
      assert.equal(r.body.error, 'insufficient_user_authentication');
    }
    assert.equal((await http.get('/me/sessions', { token: lapsed.access_token })).status, 200);
    assert.equal((await http.post('/auth/logout', undefined, { token: lapsed.access_token })).status, 204);
  });

  it('steps up with the password on an account without a factor: a fresh auth_time, still aal1; not once it has one', async () => {
    const user = await register(http);
    let t = await login(http, user.email);
    clock.offsetMs += 16 * 60_000;
    // The access token of 16 minutes ago has expired (15m); a refresh keeps the old auth_time.
    t = (await refresh(http, t.refresh_token)).body;
    const stale = await http.post('/me/factors/totp', {}, { token: t.access_token });
    assert.equal(stale.status, 401, stale.text);
    assert.deepEqual([stale.body.error, stale.body.acrValues, stale.body.maxAge], ['insufficient_user_authentication', 'aal1', 900]);
    assert.deepEqual((await http.post('/me/step-up/options', undefined, { token: t.access_token })).body, { methods: ['password'] });
    assert.equal(
      (await http.post('/me/step-up', { method: 'password', password: 'not the password' }, { token: t.access_token })).body.error,
      'invalid_credentials',
    );
    assert.equal((await http.post('/me/step-up', { method: 'totp', code: '123456' }, { token: t.access_token })).body.error, 'invalid_credentials');
    const up = await http.post('/me/step-up', { method: 'password', password: 'correct horse battery' }, { token: t.access_token });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.body.session_id, t.session_id);
    const claims = decodeJwt(up.body.access_token).payload;
    assert.deepEqual([claims.acr, claims.amr], ['aal1', ['pwd']]);
    assert.ok(claims.auth_time >= Math.floor(clock.now() / 1000) - 2);
    const enrolled = await enrolTotp(http, up.body.access_token, clock.now());
    const raised = (await refresh(http, up.body.refresh_token)).body;
    const refused = await http.post('/me/step-up', { method: 'password', password: 'correct horse battery' }, { token: raised.access_token });
    assert.equal(refused.status, 400, refused.text);
    assert.ok(enrolled.recoveryCodes.length === 10);
  });

  it('removing the last factor turns two-step sign-in off and mails the user', async () => {
    const u = await enrolledUser();
    const t = (await refresh(http, u.first.refresh_token)).body;
    const removed = await http.delete(`/me/factors/${u.factorId}`, { token: t.access_token });
    assert.equal(removed.status, 204, removed.text);
    assert.equal((await http.get('/me/factors', { token: t.access_token })).body.items.length, 0);
    assert.ok((await login(http, u.email)).access_token, 'one step again');
    assert.equal(await auditCount(app, 'mfa_factor_removed', { userId: u.id }), 1);
    await smtp.next(u.email, /Two-step sign-in is off/);
    assert.equal((await http.delete(`/me/factors/${u.factorId}`, { token: t.access_token })).status, 404);
  });

  it('remembers a trusted device: its logins skip the second step as an honest aal1, the token rotates at each use, and dies when the device is signed out or the password changes', async () => {
    const u = await enrolledUser();
    const deviceId = 'trusted-device-1';
    const s1 = await firstStep(http, u.email, { deviceId });
    const done = await verify(http, { mfaToken: s1.mfaToken, method: 'totp', code: nextCode(u.secret), trustDevice: true });
    assert.equal(done.status, 200, done.text);
    const first = done.body.trustedDevice!;
    assert.ok(first);
    const stored = await column<{ token_mac: string }>(app, 'SELECT token_mac FROM trusted_devices WHERE user_id = ?', [u.id]);
    assert.equal(stored.length, 1);
    assert.ok(!first.includes(stored[0].token_mac));

    const trusted = await http.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId, trustedDevice: first });
    assert.equal(trusted.status, 200, trusted.text);
    assert.ok(trusted.body.access_token, 'no second step');
    const claims = decodeJwt(trusted.body.access_token).payload;
    assert.deepEqual([claims.acr, claims.amr], ['aal1', ['pwd']]);
    const second = trusted.body.trustedDevice;
    assert.ok(second && second !== first, 'rotated');
    // The used token is spent; on another device the new one is worth nothing.
    assert.equal(
      (await http.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId, trustedDevice: first })).body.mfaRequired,
      true,
    );
    assert.equal(
      (await http.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId: 'another-device', trustedDevice: second })).body
        .mfaRequired,
      true,
    );
    // A wrong password gets nothing from a trusted device.
    assert.equal((await http.post('/auth/login', { email: u.email, password: 'wrong password', deviceId, trustedDevice: second })).status, 401);

    // Signing that device out forgets it.
    const third = (await http.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId, trustedDevice: second })).body;
    assert.ok(third.access_token && third.trustedDevice);
    const other = (
      await verify(http, { mfaToken: (await firstStep(http, u.email, { deviceId: 'phone-device' })).mfaToken, method: 'totp', code: nextCode(u.secret) })
    ).body;
    assert.equal((await http.delete(`/me/sessions/${third.session_id}`, { token: other.access_token })).status, 204);
    assert.equal(
      (await http.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId, trustedDevice: third.trustedDevice })).body.mfaRequired,
      true,
    );

    // In cookie mode it is a cookie, and a password change forgets every trusted device.
    const browser = new Http(app.url);
    const c1 = await firstStep(browser, u.email, { deviceId: 'browser-device', useCookie: true });
    const cookieDone = await verify(browser, { mfaToken: c1.mfaToken, method: 'totp', code: nextCode(u.secret), trustDevice: true });
    assert.equal(cookieDone.status, 200, cookieDone.text);
    assert.equal(cookieDone.body.trustedDevice, undefined);
    assert.ok([...browser.cookies.keys()].some((k) => k.includes('latchkey_trusted_device')));
    const viaCookie = await browser.post('/auth/login', { email: u.email, password: 'correct horse battery', deviceId: 'browser-device', useCookie: true });
    assert.ok(viaCookie.body.access_token, viaCookie.text);
    assert.equal(decodeJwt(viaCookie.body.access_token).payload.acr, 'aal1');
    const changed = await changePassword(other.access_token, 'correct horse battery 2');
    assert.equal(changed.status, 200, changed.text);
    assert.equal((await column(app, 'SELECT id FROM trusted_devices WHERE user_id = ?', [u.id])).length, 0);
    const afterChange = await browser.post('/auth/login', { email: u.email, password: 'correct horse battery 2', deviceId: 'browser-device', useCookie: true });
    assert.equal(afterChange.body.mfaRequired, true);
  });
});

describe(`second factor limits: MFA_LOCKOUT, MFA_MAX_FAILURES, 10 factors [${TEST_DB}]`, () => {
  const clock = new ShiftedClock();
  const nextCode = (secret: string) => {
    clock.offsetMs += STEP_MS;
    return totpCode(secret, clock.now());
  };

  it('MFA_LOCKOUT: past its limit, second factors of the account get 429 with Retry-After, whichever mfaToken they come with', async () => {
    const app = await startApp({ MFA_LOCKOUT: '3/15m' }, undefined, [{ provide: Clock, useValue: clock }]);
    try {
      const http = new Http(app.url);
      const user = await register(http);
      const { secret } = await enrolTotp(http, (await login(http, user.email)).access_token, clock.now());
      for (let i = 0; i < 3; i++) {
        const { mfaToken } = await firstStep(http, user.email);
        assert.equal((await verify(http, { mfaToken, method: 'totp', code: '99999' + i })).body.error, 'invalid_credentials');
      }
      const { mfaToken } = await firstStep(http, user.email);
      const locked = await verify(http, { mfaToken, method: 'totp', code: nextCode(secret) });
      assert.equal(locked.status, 429, locked.text);
      assert.equal(locked.body.error, 'too_many_requests');
      assert.ok(Number(locked.headers.get('retry-after')) > 0);
      // Another account is not affected.
      const other = await register(http);
      const o = await enrolTotp(http, (await login(http, other.email)).access_token, clock.now());
      const s = await firstStep(http, other.email);
      assert.equal((await verify(http, { mfaToken: s.mfaToken, method: 'totp', code: nextCode(o.secret) })).status, 200);
    } finally {
      await app.close();
    }
  });

  it('evaluates at most 5 of many concurrent wrong codes on one mfaToken, and then not even the right one', async () => {
    const app = await startApp({ MFA_LOCKOUT: 'off' }, undefined, [{ provide: Clock, useValue: clock }]);
    try {
      const http = new Http(app.url);
      const user = await register(http);
      const { secret } = await enrolTotp(http, (await login(http, user.email)).access_token, clock.now());
      const { mfaToken } = await firstStep(http, user.email);
      // Straight to the service, all in one tick: every attempt reads the token before any is counted, whatever the driver's scheduling.
      const mfa = app.app.get(MfaService);
      const client = { ip: '127.0.0.1', userAgent: 'concurrent-codes' };
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => mfa.verifyLogin(mfaToken, 'totp', { code: String(100000 + i) }, client)));
      const errors = outcomes.map((o) =>
        o.status === 'rejected' && o.reason instanceof ApiError ? o.reason.code : String(o.status === 'rejected' ? o.reason : 'accepted'),
      );
      const evaluated = errors.filter((e) => e === 'invalid_credentials').length;
      assert.ok(evaluated <= 5, errors.join(' '));
      assert.equal(errors.filter((e) => e === 'invalid_mfa_token').length, 10 - evaluated, errors.join(' '));
      assert.ok((await auditCount(app, 'mfa_failed', { userId: user.id })) <= 5);
      const right = await verify(http, { mfaToken, method: 'totp', code: nextCode(secret) });
      assert.equal(right.status, 401, right.text);
      assert.equal(right.body.error, 'invalid_mfa_token');
    } finally {
      await app.close();
    }
  });

  it('MFA_MAX_FAILURES consecutive failures lock the factor until an admin reset; a success in between starts the count again', async () => {
    const ADMIN = { ADMIN_EMAIL: 'limits-admin@example.com', ADMIN_PASSWORD: 'limits admin password' };
    const app = await startApp({ MFA_LOCKOUT: 'off', MFA_MAX_FAILURES: '4', ...ADMIN }, undefined, [{ provide: Clock, useValue: clock }]);
    try {
      const http = new Http(app.url);
      const user = await register(http);
      const enrolled = await enrolTotp(http, (await login(http, user.email)).access_token, clock.now());
      const fail = async (n: number) => {
        const { mfaToken } = await firstStep(http, user.email);
        for (let i = 0; i < n; i++) assert.equal((await verify(http, { mfaToken, method: 'totp', code: '00000' + i })).body.error, 'invalid_credentials');
      };
      await fail(3);
      const ok = await firstStep(http, user.email);
      assert.equal((await verify(http, { mfaToken: ok.mfaToken, method: 'totp', code: nextCode(enrolled.secret) })).status, 200);
      await fail(3);
      const stillOk = await firstStep(http, user.email);
      assert.equal(
        (await verify(http, { mfaToken: stillOk.mfaToken, method: 'totp', code: nextCode(enrolled.secret) })).status,
        200,
        'not locked: the success reset the count',
      );
      await fail(4);
      assert.equal(await auditCount(app, 'mfa_locked', { userId: user.id }), 1);
      const after = await firstStep(http, user.email);
      assert.deepEqual(after.methods, ['recovery_code'], 'a locked factor is not offered');
      assert.equal(
        (await verify(http, { mfaToken: after.mfaToken, method: 'totp', code: nextCode(enrolled.secret) })).body.error,
        'invalid_credentials',
        'not even the right code',
      );
      const viaCode = await verify(http, { mfaToken: after.mfaToken, method: 'recovery_code', code: enrolled.recoveryCodes[0] });
      assert.equal(viaCode.status, 200, viaCode.text);
      assert.equal((await http.get('/me/factors', { token: viaCode.body.access_token })).body.items[0].locked, true);

      const admin = await login(http, ADMIN.ADMIN_EMAIL, ADMIN.ADMIN_PASSWORD);
      assert.deepEqual((await http.post(`/admin/users/${user.id}/mfa/reset`, undefined, { token: admin.access_token })).body, { removed: 1 });
      assert.ok((await login(http, user.email)).access_token);
    } finally {
      await app.close();
    }
  });

  it('refuses an 11th factor with 409 factor_limit', async () => {
    const app = await startApp({}, undefined, [{ provide: Clock, useValue: clock }]);
    try {
      const http = new Http(app.url);
      const user = await register(http);
      const t = await login(http, user.email);
      for (let i = 0; i < 10; i++) assert.equal((await http.post('/me/factors/totp', { name: `Phone ${i}` }, { token: t.access_token })).status, 201);
      const over = await http.post('/me/factors/totp', {}, { token: t.access_token });
      assert.equal(over.status, 409, over.text);
      assert.equal(over.body.error, 'factor_limit');
    } finally {
      await app.close();
    }
  });
});
