import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { appWithMailSuite, startAppAtOwnUrl, TEST_DB } from '../support/app';
import { auditCount, column, sessionRow } from '../support/db';
import { dpopKey, dpopProof, DpopKey } from '../support/dpop';
import { Http, PASSWORD, Tokens, eventually, login, register, works } from '../support/http';
import { tokenOf } from '../support/smtp';
import { SoftwareAuthenticator } from '../support/webauthn';
import { ShiftedClock } from '../support/clock';
import { enrolTotp, loginWithTotp } from '../support/mfa';
import { Clock } from '../../src/common/clock';
import { PasswordService } from '../../src/users/password.service';

const APP_URL = 'https://accounts.example.test';
const NEW_DEVICE = /A new device signed in/;
const RESET = /Reset your/;
const NEW_PASSWORD = 'a brand new passphrase';

/**
 * Issue 19. Finding 3: an intruder who has the password reads the victim's device ids from
 * /me/sessions and signs in under one of them. "This wasn't me" must end every session the
 * intruder opened, keep the password from signing in until it is replaced, and a sign-in that
 * takes over a live device session must alert like a new device. Finding 8: what reaches an
 * alert from the client (its device name, its user agent) stays one plain line.
 */
describe(`new-device alerts and "this wasn't me" [${TEST_DB}]`, () => {
  const clock = new ShiftedClock();
  const suite = appWithMailSuite((mail) => startAppAtOwnUrl({ ...mail, APP_URL }, undefined, [{ provide: Clock, useValue: clock }]));

  // A test that moves the app's clock (TOTP steps) puts it back: DPoP proofs are stamped with real time.
  afterEach(() => {
    clock.offsetMs = 0;
  });

  const settled = (userId: string) =>
    eventually(
      async () =>
        Number((await column<{ n: number }>(suite.app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'pending' AND user_id = ?", [userId]))[0].n) === 0,
      10_000,
      20,
    );
  const alerts = (email: string) => suite.smtp.to(email, NEW_DEVICE);
  const dpopLogin = async (email: string, key: DpopKey, deviceId: string): Promise<Tokens> => {
    const r = await suite.http.post(
      '/auth/login',
      { email, password: PASSWORD, deviceId },
      { headers: { dpop: await dpopProof(key, 'POST', `${suite.http.base}/auth/login`) } },
    );
    assert.equal(r.status, 200, r.text);
    return r.body;
  };

  /** The victim's laptop and phone, then the intruder: a new device (alerted), and the phone's id taken over. */
  async function intrusion() {
    const victim = await register(suite.http);
    const laptop = await login(suite.http, victim.email, PASSWORD, { deviceId: 'victim-laptop-01' });
    const phone = await login(suite.http, victim.email, PASSWORD, { deviceId: 'victim-phone-001' });
    const intruder = await login(suite.http, victim.email, PASSWORD, { deviceId: 'intruder-box-001' });
    const alert = await suite.smtp.next(victim.email, NEW_DEVICE);
    const ids = (await suite.http.get('/me/sessions', { token: intruder.access_token })).body.items.map((s: { deviceId: string }) => s.deviceId);
    assert.ok(ids.includes('victim-phone-001'), 'the device ids are there to read');
    const takeover = await login(suite.http, victim.email, PASSWORD, { deviceId: 'victim-phone-001' });
    const another = await login(suite.http, victim.email, PASSWORD, { deviceId: 'intruder-box-002' });
    return { victim, laptop, phone, intruder, takeover, another, alert };
  }

  it('a report revokes every session opened since the reported sign-in, on any device id (reported_by_user, announced); the earlier ones stay', async () => {
    const { victim, laptop, phone, intruder, takeover, another, alert } = await intrusion();
    assert.equal((await sessionRow(suite.app, phone.session_id)).revoked_reason, 'device_relogin', "the takeover signed the victim's phone out");

    const report = await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') });
    assert.equal(report.status, 200, report.text);
    for (const [label, tokens] of [
      ['the reported session', intruder],
      ["the session under the victim's device id", takeover],
      ['a later session on another device', another],
    ] as const) {
      assert.equal((await sessionRow(suite.app, tokens.session_id)).revoked_reason, 'reported_by_user', label);
      assert.equal(await works(suite.http, tokens), false, `${label}: its access token stops at once`);
    }
    assert.equal(await works(suite.http, laptop), true, 'the session the victim had before stays');
    assert.equal((await sessionRow(suite.app, laptop.session_id)).revoked_at, null);
    // Through the ordinary path: a session_revoked event and a revocation-log row for each, so the feed serves them.
    for (const s of [intruder, takeover, another]) {
      assert.equal(await auditCount(suite.app, 'session_revoked', { sessionId: s.session_id }), 1);
      assert.equal(
        Number(
          (
            await column<{ n: number }>(suite.app, "SELECT COUNT(*) AS n FROM session_revocations WHERE session_id = ? AND reason = 'reported_by_user'", [
              s.session_id,
            ])
          )[0].n,
        ),
        1,
      );
    }
    assert.equal(await auditCount(suite.app, 'session_reported', { userId: victim.id }), 1);

    // The reset owed is paid only through the mailed link: a session from before the report (the
    // intruder's own, on an earlier device, as much as the victim's) cannot change the password.
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 403);
    for (const method of ['PUT', 'POST']) {
      const changed = await suite.http.request(
        method,
        '/me/password',
        { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
        { token: laptop.access_token },
      );
      assert.equal(changed.status, 403, changed.text);
      assert.equal(changed.body.error, 'forbidden');
      assert.match(changed.body.message, /link in the e-mail|forgot password/);
    }
    assert.equal(await works(suite.http, laptop), true, 'the refusal changed nothing: the session stays');
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: NEW_PASSWORD })).status, 401, 'the password did not change');
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 403, 'and the reset is still owed');
    const reset = await suite.http.post('/auth/password/reset', {
      token: tokenOf(await suite.smtp.next(victim.email, RESET), 'reset-password'),
      newPassword: NEW_PASSWORD,
    });
    assert.equal(reset.status, 200, reset.text);
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: NEW_PASSWORD })).status, 200);
  });

  it('after a report the password no longer signs in (403 forbidden, naming the reset) until the mailed reset replaces it', async () => {
    const { victim, laptop, alert } = await intrusion();
    assert.equal((await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') })).status, 200);
    const sessionsBefore = Number((await column<{ n: number }>(suite.app, 'SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?', [victim.id]))[0].n);

    const refused = await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD, deviceId: 'intruder-box-003' });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.error, 'forbidden');
    assert.match(refused.body.message, /new password/);
    assert.equal(
      (await suite.http.post('/auth/login', { email: victim.email, password: 'not the password' })).status,
      401,
      'a wrong password learns nothing of it',
    );
    assert.equal(
      Number((await column<{ n: number }>(suite.app, 'SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?', [victim.id]))[0].n),
      sessionsBefore,
      'no session was opened',
    );
    assert.equal(await works(suite.http, laptop), true, "the victim's own earlier session is untouched");

    const reset = await suite.http.post('/auth/password/reset', {
      token: tokenOf(await suite.smtp.next(victim.email, RESET), 'reset-password'),
      newPassword: NEW_PASSWORD,
    });
    assert.equal(reset.status, 200, reset.text);
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 401, 'the old password is gone');
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: NEW_PASSWORD })).status, 200, 'the new one signs in');
  });

  /** The intruder, signed in as a new device, registers a passkey of their own (the account's default origin). */
  async function intruderPasskey(accessToken: string): Promise<SoftwareAuthenticator> {
    const device = new SoftwareAuthenticator({ origin: APP_URL });
    const options = await suite.http.post('/me/factors/passkey/options', undefined, { token: accessToken });
    assert.equal(options.status, 200, options.text);
    const added = await suite.http.post(
      '/me/factors/passkey',
      { credential: device.register(options.body.publicKey), name: 'Mine now' },
      { token: accessToken },
    );
    assert.equal(added.status, 201, added.text);
    return device;
  }
  const passkeyLogin = async (device: SoftwareAuthenticator) => {
    const options = await suite.http.post('/auth/passkey/options');
    assert.equal(options.status, 200, options.text);
    return suite.http.post('/auth/passkey/login', { credential: device.authenticate(options.body.publicKey) });
  };
  const count = async (sql: string, params: unknown[]) => Number((await column<{ n: number }>(suite.app, sql, params))[0].n);
  const resetBy = async (email: string) => {
    const reset = await suite.http.post('/auth/password/reset', {
      token: tokenOf(await suite.smtp.next(email, RESET), 'reset-password'),
      newPassword: NEW_PASSWORD,
    });
    assert.equal(reset.status, 200, reset.text);
  };

  it("a report removes the passkey the intruder registered as the account's first factor, and the recovery codes it handed out", async () => {
    const victim = await register(suite.http);
    await login(suite.http, victim.email, PASSWORD, { deviceId: 'first-laptop-0001' });
    const intruder = await login(suite.http, victim.email, PASSWORD, { deviceId: 'first-intruder-01' });
    const alert = await suite.smtp.next(victim.email, NEW_DEVICE);
    const device = await intruderPasskey(intruder.access_token);
    assert.equal(
      (await count('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ?', [victim.id])) > 0,
      true,
      'the first factor handed out recovery codes',
    );
    assert.equal((await passkeyLogin(device)).status, 200, 'before the report the passkey signs in');

    assert.equal((await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') })).status, 200);
    const refused = await passkeyLogin(device);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.body.access_token, undefined);
    assert.equal(await count('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ?', [victim.id]), 0, 'the codes went with the factor');
    assert.equal(await auditCount(suite.app, 'mfa_factor_removed', { userId: victim.id }), 1);
    const [event] = await column<{ details: string }>(suite.app, "SELECT details FROM audit_events WHERE type = 'mfa_factor_removed' AND user_id = ?", [
      victim.id,
    ]);
    assert.equal(JSON.parse(event.details).reason, 'reported_by_user');

    // After the reset the password alone signs the victim in again: no factor of the intruder's to ask for.
    await resetBy(victim.email);
    const back = await suite.http.post('/auth/login', { email: victim.email, password: NEW_PASSWORD });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.body.mfaRequired, undefined, back.text);
    const factors = await suite.http.get('/me/factors', { token: back.body.access_token });
    assert.equal(factors.status, 200, factors.text);
    assert.deepEqual(factors.body.items, []);
  });

  it('a report removes a passkey the intruder added next to a factor the user already had; that factor and its recovery codes stay', async () => {
    const victim = await register(suite.http);
    const laptop = await login(suite.http, victim.email, PASSWORD, { deviceId: 'second-laptop-001' });
    const totp = await enrolTotp(suite.http, laptop.access_token, clock.now());
    clock.offsetMs += 60_000;
    // The intruder has the password and one TOTP code (phished, say): aal2, enough to add a passkey.
    const intruder = await loginWithTotp(suite.http, victim.email, totp.secret, clock.now(), { deviceId: 'second-intruder-1' });
    const alert = await suite.smtp.next(victim.email, NEW_DEVICE);
    const device = await intruderPasskey(intruder.access_token);
    const codes = await count('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ?', [victim.id]);

    assert.equal((await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') })).status, 200);
    assert.equal((await passkeyLogin(device)).status, 401);
    assert.equal(await count('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ?', [victim.id]), codes, 'the codes of the earlier factor stay');
    await resetBy(victim.email);
    clock.offsetMs += 60_000;
    const back = await loginWithTotp(suite.http, victim.email, totp.secret, clock.now(), { password: NEW_PASSWORD });
    const factors = await suite.http.get('/me/factors', { token: back.access_token });
    assert.deepEqual(
      factors.body.items.map((f: { id: string; type: string }) => [f.id, f.type]),
      [[totp.factorId, 'totp']],
    );
  });

  it('a report that commits while a password change checks the current password wins: the change is refused and the reset still owed', async () => {
    const { victim, laptop, alert } = await intrusion();
    // The report lands between the change's first check and its transaction (during the argon2 verify).
    const passwords = suite.app.app.get(PasswordService);
    const verify = passwords.verify;
    passwords.verify = async function (this: PasswordService, ...args: Parameters<PasswordService['verify']>) {
      const ok = await verify.apply(this, args);
      passwords.verify = verify;
      assert.equal((await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') })).status, 200);
      return ok;
    };
    try {
      const changed = await suite.http.request('PUT', '/me/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, { token: laptop.access_token });
      assert.equal(changed.status, 403, changed.text);
      assert.equal(changed.body.error, 'forbidden');
    } finally {
      passwords.verify = verify;
    }
    assert.equal(await auditCount(suite.app, 'session_reported', { userId: victim.id }), 1, 'the report ran inside the change');
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: NEW_PASSWORD })).status, 401, 'the password did not change');
    assert.equal((await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 403, 'the reset is still owed');
  });

  it('a sign-in that takes over a live session of a device id alerts like a new device, and its "this wasn\'t me" ends it', async () => {
    const victim = await register(suite.http);
    await login(suite.http, victim.email, PASSWORD, { deviceId: 'takeover-first-01' });
    const phone = await login(suite.http, victim.email, PASSWORD, { deviceId: 'takeover-phone-01' });
    await settled(victim.id);
    assert.equal(alerts(victim.email).length, 1, 'the phone was a new device');

    const takeover = await login(suite.http, victim.email, PASSWORD, { deviceId: 'takeover-phone-01' });
    const alert = await suite.smtp.next(victim.email, NEW_DEVICE, 15_000, 2);
    assert.match(alert.text, /already signed in/);
    assert.equal((await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') })).status, 200);
    assert.equal(await works(suite.http, takeover), false);
    assert.equal((await sessionRow(suite.app, takeover.session_id)).revoked_reason, 'reported_by_user');
    assert.equal((await sessionRow(suite.app, phone.session_id)).revoked_reason, 'device_relogin');
  });

  it('the device itself signing in again is no news: with its DPoP key, with its refresh cookie, or once its session has ended', async () => {
    const victim = await register(suite.http);
    await login(suite.http, victim.email, PASSWORD, { deviceId: 'quiet-first-0001' });

    const key = await dpopKey();
    await dpopLogin(victim.email, key, 'quiet-bound-0001');
    await dpopLogin(victim.email, key, 'quiet-bound-0001');

    const browser = new Http(suite.app.url);
    assert.equal((await browser.post('/auth/login', { email: victim.email, password: PASSWORD, deviceId: 'quiet-cookie-001', useCookie: true })).status, 200);
    assert.equal((await browser.post('/auth/login', { email: victim.email, password: PASSWORD, deviceId: 'quiet-cookie-001', useCookie: true })).status, 200);

    const ended = await login(suite.http, victim.email, PASSWORD, { deviceId: 'quiet-ended-0001' });
    assert.equal((await suite.http.post('/auth/logout', undefined, { token: ended.access_token })).status, 204);
    await login(suite.http, victim.email, PASSWORD, { deviceId: 'quiet-ended-0001' });
    await settled(victim.id);
    assert.equal(alerts(victim.email).length, 3, 'one alert for each device the first time, none for the same device again');

    // Someone else under those ids, without the key or the cookie, is a takeover.
    await dpopLogin(victim.email, await dpopKey(), 'quiet-bound-0001');
    await login(suite.http, victim.email, PASSWORD, { deviceId: 'quiet-cookie-001' });
    await settled(victim.id);
    assert.equal(alerts(victim.email).length, 5);
  });

  it('a device name with a line separator or a bidi control is refused at login (400 validation_failed) and opens nothing', async () => {
    const victim = await register(suite.http);
    const before = async () => Number((await column<{ n: number }>(suite.app, 'SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?', [victim.id]))[0].n);
    for (const c of ['\u2028', '\u2029', '\u0085', '\r\n', '\u202e', '\u202a', '\u2066', '\u2069', '\u200e', '\u200f', '\u061c']) {
      const r = await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD, deviceName: `Laptop${c}Time: never` });
      assert.equal(r.status, 400, JSON.stringify(c));
      assert.equal(r.body.error, 'validation_failed');
      assert.equal(r.body.details[0].field, 'deviceName');
    }
    assert.equal(await before(), 0);
    assert.equal(
      (await suite.http.post('/auth/login', { email: victim.email, password: PASSWORD, deviceName: 'هاتف علي' })).status,
      200,
      'a name in a right-to-left script is fine',
    );
  });

  it("a user agent's control characters reach the alert neutralised, on the device's one line", async () => {
    const victim = await register(suite.http);
    await login(suite.http, victim.email, PASSWORD, { deviceId: 'agent-first-0001' });
    // A C1 control in the header, as a hostile client sends it: NEL (U+0085) is a line break to some readers.
    const agent = 'Mozilla/5.0 (Linux; Android 14; Pixel\u0085IP address: 10.9.9.9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36';
    const body = JSON.stringify({ email: victim.email, password: PASSWORD, deviceId: 'agent-forged-001' });
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL('/auth/login', suite.app.url);
      const req = httpRequest(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': agent } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(status, 200);
    const alert = await suite.smtp.next(victim.email, NEW_DEVICE);
    assert.ok(!/[\u0085\u2028\u2029]/.test(alert.text + alert.html), 'no line-breaking character from the agent');
    // (Node writes the header as UTF-8, which the server reads as latin-1: C2 85 arrives as "Â" and NEL.)
    assert.ok(
      alert.text.split('\n').some((line) => /^Device: Chrome on Pixel\u00c2?\uFFFDIP address: 10\.9\.9\.9$/.test(line)),
      alert.text,
    );
    assert.equal(alert.text.split('\n').filter((l) => l.startsWith('IP address: ')).length, 1, 'one IP address line, the real one');
  });
});
