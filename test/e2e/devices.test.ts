import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, Reply, SESSION_FIELDS, Tokens, login, refresh, register, uniqueEmail, sleep, works } from '../support/http';
import { column } from '../support/db';
import { HousekeepingService } from '../../src/sessions/housekeeping.service';
import { Clock } from '../../src/common/clock';
import { ShiftedClock } from '../support/clock';

describe(`your devices [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  // Moved a few milliseconds where the order of uses must show (lastUsedAt), rather than slept.
  const clock = new ShiftedClock();

  before(async () => {
    // The password-change race fires up to 84 logins at once; on a 2-core runner one hashing
    // worker cannot drain them before the default queue (64) sheds some with 503, which says
    // nothing about the race this file tests.
    app = await startApp({ REFRESH_REUSE_GRACE: '1s', MAX_SESSIONS_PER_USER: '3', ARGON2_QUEUE: '200' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
  });
  after(async () => app.close());

  async function threeDevices(): Promise<{ user: { id: string; email: string }; devices: Tokens[] }> {
    const user = await register(http);
    const devices: Tokens[] = [];
    for (const [i, ua] of [
      'Mozilla/5.0 (iPhone) Safari/604.1',
      'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0',
      'Mozilla/5.0 (Windows NT 10.0) Firefox/131.0',
    ].entries()) {
      const r = await http.post(
        '/auth/login',
        { email: user.email, password: PASSWORD, deviceId: `device-${i}-abcdefgh`, deviceName: `Device ${i}` },
        { headers: { 'user-agent': ua } },
      );
      assert.equal(r.status, 200);
      devices.push(r.body);
      clock.advance(5);
    }
    return { user, devices };
  }

  it('lists the active sessions of three devices, newest use first, the caller marked current', async () => {
    const { devices } = await threeDevices();
    // Device 0 refreshes, so it becomes the most recently used.
    clock.advance(10);
    const r0 = await refresh(http, devices[0].refresh_token);
    assert.equal(r0.status, 200);
    const list = await http.get('/me/sessions', { token: devices[1].access_token });
    assert.equal(list.status, 200);
    const items = list.body.items;
    assert.equal(items.length, 3);
    assert.deepEqual(
      items.map((s: { deviceName: string }) => s.deviceName),
      ['Device 0', 'Device 2', 'Device 1'],
    );
    assert.deepEqual(
      items.map((s: { current: boolean }) => s.current),
      [false, false, true],
    );
    const s = items[0];
    assert.deepEqual(Object.keys(s).sort(), SESSION_FIELDS);
    assert.equal(s.deviceId, 'device-0-abcdefgh');
    assert.match(s.userAgent, /iPhone/);
    assert.equal(s.ip, '127.0.0.1');
    assert.equal(s.revokedAt, null);
    for (const k of ['createdAt', 'lastUsedAt', 'expiresAt', 'idleExpiresAt']) assert.ok(!Number.isNaN(Date.parse(s[k])), k);
    assert.ok(Date.parse(s.lastUsedAt) > Date.parse(s.createdAt), 'refresh wrote lastUsedAt');
    assert.ok(!list.text.includes('salt') && !list.text.includes('generation'));
  });

  it('never writes lastUsedAt on access-token requests', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const before = await column<{ last_used_at: unknown }>(app, 'SELECT last_used_at FROM sessions WHERE id = ?', [t.session_id]);
    clock.advance(20);
    for (let i = 0; i < 5; i++) assert.equal((await http.get('/me', { token: t.access_token })).status, 200);
    await http.get('/me/sessions', { token: t.access_token });
    const afterRows = await column<{ last_used_at: unknown }>(app, 'SELECT last_used_at FROM sessions WHERE id = ?', [t.session_id]);
    assert.equal(Number(afterRows[0].last_used_at), Number(before[0].last_used_at));
    await refresh(http, t.refresh_token);
    const refreshed = await column<{ last_used_at: unknown }>(app, 'SELECT last_used_at FROM sessions WHERE id = ?', [t.session_id]);
    assert.ok(Number(refreshed[0].last_used_at) > Number(before[0].last_used_at));
  });

  it('DELETE /me/sessions/:id revokes one device (user_revoked); others keep working', async () => {
    const { devices } = await threeDevices();
    const r = await http.delete(`/me/sessions/${devices[2].session_id}`, { token: devices[0].access_token });
    assert.equal(r.status, 204);
    assert.deepEqual(await Promise.all(devices.map((d) => works(http, d))), [true, true, false]);
    assert.equal((await refresh(http, devices[2].refresh_token)).status, 400);
    assert.equal((await refresh(http, devices[1].refresh_token)).status, 200);
    const rows = await column<{ revoked_reason: string }>(app, 'SELECT revoked_reason FROM sessions WHERE id = ?', [devices[2].session_id]);
    assert.equal(rows[0].revoked_reason, 'user_revoked');
    const events = await column<{ actor_id: string; details: string }>(
      app,
      "SELECT actor_id, details FROM audit_events WHERE type = 'session_revoked' AND session_id = ?",
      [devices[2].session_id],
    );
    assert.equal(events.length, 1);
    assert.match(events[0].details, /user_revoked/);
  });

  it("answers 404 for another user's session or a missing one, 400 for a malformed id, and changes nothing", async () => {
    const mine = await threeDevices();
    const theirs = await threeDevices();
    const other = await http.delete(`/me/sessions/${theirs.devices[0].session_id}`, { token: mine.devices[0].access_token });
    assert.equal(other.status, 404);
    assert.equal(other.body.error, 'not_found');
    const missing = await http.delete('/me/sessions/01a20000-0000-7000-8000-000000000000', { token: mine.devices[0].access_token });
    assert.deepEqual(missing.body, other.body, 'the two 404s are indistinguishable');
    const malformed = await http.delete('/me/sessions/not-a-uuid', { token: mine.devices[0].access_token });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error, 'validation_failed');
    assert.ok(await works(http, theirs.devices[0]));
  });

  it('enforces MAX_SESSIONS_PER_USER by revoking the least recently used (session_limit)', async () => {
    const { user, devices } = await threeDevices();
    clock.advance(5);
    await refresh(http, devices[0].refresh_token); // device 1 is now the least recently used
    const fourth = await login(http, user.email, PASSWORD, { deviceId: 'device-3-abcdefgh' });
    assert.ok(await works(http, fourth));
    assert.equal(await works(http, devices[1]), false, 'LRU device was signed out');
    const rows = await column<{ revoked_reason: string }>(app, 'SELECT revoked_reason FROM sessions WHERE id = ?', [devices[1].session_id]);
    assert.equal(rows[0].revoked_reason, 'session_limit');
    const list = await http.get('/me/sessions', { token: fourth.access_token });
    assert.equal(list.body.items.length, 3);
  });

  it('holds the session limit under concurrent logins', async () => {
    const user = await register(http);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => http.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: `concurrent-${i}-device` })),
    );
    for (const r of results) assert.equal(r.status, 200);
    const active = await column<{ n: number }>(app, 'SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL', [user.id]);
    assert.equal(Number(active[0].n), 3);
  });

  it('password change: other devices are signed out at once, the caller gets a fresh pair, its old tokens die', async () => {
    const { user, devices } = await threeDevices();
    const caller = devices[0];
    const wrong = await http.post('/me/password', { currentPassword: 'not it at all', newPassword: 'a brand new secret' }, { token: caller.access_token });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_credentials');
    assert.ok(await works(http, devices[1]), 'a wrong current password changes nothing');

    const weak = await http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'short' }, { token: caller.access_token });
    assert.equal(weak.status, 400);

    const r = await http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'a brand new secret' }, { token: caller.access_token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const fresh: Tokens = r.body;
    assert.equal(fresh.device_id, caller.device_id, 'same device');
    assert.ok(fresh.refresh_token && fresh.access_token);
    assert.ok(await works(http, fresh));
    for (const d of devices) {
      assert.equal(await works(http, d), false, 'every old access token stops working at once');
      assert.equal((await refresh(http, d.refresh_token)).status, 400, 'every old refresh token stops working');
    }
    assert.equal((await refresh(http, fresh.refresh_token)).status, 200);
    const reasons = await column<{ revoked_reason: string }>(app, 'SELECT revoked_reason FROM sessions WHERE user_id = ? AND revoked_at IS NOT NULL', [
      user.id,
    ]);
    assert.deepEqual(new Set(reasons.map((x) => x.revoked_reason)), new Set(['password_changed']));
    const me = await http.get('/me', { token: fresh.access_token });
    assert.ok(me.body.passwordChangedAt);
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 401);
    assert.equal((await http.post('/auth/login', { email: user.email, password: 'a brand new secret' })).status, 200);
    const events = await column<{ n: number }>(app, "SELECT COUNT(*) AS n FROM audit_events WHERE type = 'password_changed' AND user_id = ?", [user.id]);
    assert.equal(Number(events[0].n), 1);
  });

  it('of two concurrent password changes exactly one wins; the loser is told so', async () => {
    const { user, devices } = await threeDevices();
    const [a, b] = await Promise.all([
      http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'first new secret' }, { token: devices[0].access_token }),
      http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'second new secret' }, { token: devices[1].access_token }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 401], `${a.text} / ${b.text}`);
    const winner = a.status === 200 ? { reply: a, password: 'first new secret' } : { reply: b, password: 'second new secret' };
    assert.ok(await works(http, winner.reply.body), "the winner's fresh token works");
    assert.equal((await http.post('/auth/login', { email: user.email, password: winner.password })).status, 200);
    const loser = winner.password === 'first new secret' ? 'second new secret' : 'first new secret';
    assert.equal((await http.post('/auth/login', { email: user.email, password: loser })).status, 401);
  });

  it('a login with the old password that races a password change never outlives it', async () => {
    const user = await register(http);
    const changer = await login(http, user.email, PASSWORD, { deviceId: 'changer-device-1' });
    // Logins with the old password keep starting while the change runs, so some pass their
    // password check before it commits and open their session after. One racing device, so
    // relogins replace each other and the session limit (3) never touches the changer.
    let done = false;
    const change = http
      .post('/me/password', { currentPassword: PASSWORD, newPassword: 'changed under load' }, { token: changer.access_token })
      .finally(() => (done = true));
    const logins: Array<Promise<Reply>> = [];
    while (!done && logins.length < 80) {
      logins.push(http.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: 'racer-device' }));
      await sleep(3);
    }
    for (let i = 0; i < 4; i++) logins.push(http.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: 'racer-device' }));
    const [changed, ...results] = await Promise.all([change, ...logins]);
    assert.equal(changed.status, 200, changed.text);
    for (const r of results) assert.ok(r.status === 200 || r.status === 401, r.text);
    const active = await column<{ id: string }>(app, 'SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL', [user.id]);
    assert.deepEqual(
      active.map((r) => r.id),
      [changed.body.session_id],
      'only the session from the password change is left',
    );
    for (const r of results.filter((x) => x.status === 200)) assert.equal(await works(http, r.body), false);
  });

  it('password change is atomic: a database failure halfway leaves the password and every session as they were', async () => {
    const { user, devices } = await threeDevices();
    const trigger = `lk_fail_pw_${process.pid}`;
    // A real database error inside the transaction, raised by the last statement of the change.
    if (TEST_DB === 'mysql') {
      await app.database.exec(
        `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_events FOR EACH ROW BEGIN IF NEW.type = 'password_changed' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected fault'; END IF; END`,
        [],
      );
    } else {
      await app.database.exec(
        `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_events WHEN NEW.type = 'password_changed' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
        [],
      );
    }
    try {
      const r = await http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'another new secret' }, { token: devices[0].access_token });
      assert.equal(r.status, 500);
      assert.equal(r.body.error, 'internal_error');
      assert.ok(!r.text.includes('injected') && !r.text.includes('INSERT'), 'no SQL or driver message in the body');
    } finally {
      await app.database.exec(`DROP TRIGGER ${trigger}`, []);
    }
    for (const d of devices) assert.ok(await works(http, d), 'every session lives');
    assert.equal((await refresh(http, devices[1].refresh_token)).status, 200);
    assert.equal(
      (await http.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: 'device-0-abcdefgh' })).status,
      200,
      'the old password still works',
    );
    const changed = await column<{ password_changed_at: unknown }>(app, 'SELECT password_changed_at FROM users WHERE id = ?', [user.id]);
    assert.equal(changed[0].password_changed_at, null);
  });
});

describe(`browser cookie mode [${TEST_DB}]`, () => {
  let app: TestApp;
  const clock = new ShiftedClock();
  before(async () => {
    app = await startApp({ REFRESH_REUSE_GRACE: '1s' }, undefined, [{ provide: Clock, useValue: clock }]);
  });
  after(async () => app.close());

  it('keeps the refresh token in an HttpOnly SameSite=Strict cookie scoped to /auth', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    assert.equal(r.status, 200);
    assert.equal(r.body.refresh_token, undefined, 'not in the body');
    assert.ok(r.body.access_token);
    const setCookie = r.headers.getSetCookie().join('\n');
    assert.match(setCookie, /latchkey_refresh=[^;]+/);
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);
    assert.match(setCookie, /Path=\/auth/);
    assert.doesNotMatch(setCookie, /Secure/i, 'COOKIE_SECURE defaults to false for a localhost issuer');
  });

  it('refreshes from the cookie only with X-Latchkey-CSRF: 1, and without it consumes nothing', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    const cookieBefore = http.cookies.get('latchkey_refresh');
    const noHeader = await http.post('/auth/token', { grant_type: 'refresh_token' }, { form: true });
    assert.equal(noHeader.status, 403);
    assert.equal(noHeader.body.error, 'forbidden');
    assert.equal(http.cookies.get('latchkey_refresh'), cookieBefore);
    clock.advance(1200); // past the grace window: had the token been consumed, using it now would be a replay
    const ok = await http.post('/auth/token', { grant_type: 'refresh_token' }, { form: true, headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.refresh_token, undefined);
    assert.notEqual(http.cookies.get('latchkey_refresh'), cookieBefore, 'the cookie rotated');
    const again = await http.post('/auth/token', { grant_type: 'refresh_token' }, { form: true, headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(again.status, 200);
    const me = await http.get('/me', { token: again.body.access_token });
    assert.equal(me.status, 200);
  });

  it('password change in cookie mode rotates the cookie and keeps the token out of the body', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    const before = http.cookies.get('latchkey_refresh');
    const changed = await http.post(
      '/me/password',
      { currentPassword: PASSWORD, newPassword: 'cookie mode secret', useCookie: true },
      { token: r.body.access_token },
    );
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.refresh_token, undefined);
    assert.match(changed.headers.getSetCookie().join('\n'), /latchkey_refresh=[^;]+;.*HttpOnly/i);
    assert.notEqual(http.cookies.get('latchkey_refresh'), before);
    const next = await http.post('/auth/token', { grant_type: 'refresh_token' }, { form: true, headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(next.status, 200, 'the rotated cookie works');
  });

  it('logout clears the cookie', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    const out = await http.post('/auth/logout', undefined, { token: r.body.access_token });
    assert.equal(out.status, 204);
    assert.match(out.headers.getSetCookie().join('\n'), /latchkey_refresh=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i);
    assert.equal(http.cookies.has('latchkey_refresh'), false);
  });

  it('a browser whose access token has expired still signs out, with its refresh cookie and the CSRF header', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    const cookie = http.cookies.get('latchkey_refresh')!;
    // No access token at all (it expired while the laptop slept): the cookie alone, without the header, is refused and changes nothing.
    const forged = await http.post('/auth/logout');
    assert.equal(forged.status, 403);
    assert.equal(forged.body.error, 'forbidden');
    assert.ok(await works(http, r.body), 'nothing was revoked by a request without the CSRF header');
    http.cookies.set('latchkey_refresh', cookie);
    const out = await http.post('/auth/logout', undefined, { headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(out.status, 204, out.text);
    assert.match(out.headers.getSetCookie().join('\n'), /latchkey_refresh=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i, 'the cookie is cleared');
    assert.equal(await works(http, r.body), false, 'the session is over: its access token stops at once');
    const reuse = await http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: cookie }, { form: true });
    assert.equal(reuse.body.error, 'invalid_grant', 'and so is its refresh token');
    http.cookies.set('latchkey_refresh', cookie);
    const others = await http.post('/auth/logout?scope=global', undefined, { headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(others.status, 401, 'other devices need an access token');
  });

  it("an expired, revoked or forged access token beside the cookie and the CSRF header: logout ends the cookie's session, and nothing more", async () => {
    const csrf = { 'x-latchkey-csrf': '1' };
    const cleared = /latchkey_refresh=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i;
    const user = await register(new Http(app.url));
    const other = await login(new Http(app.url), user.email); // another device, signed in with a live token
    const browser = async (): Promise<{ http: Http; cookie: string; tokens: Tokens }> => {
      const http = new Http(app.url);
      const tokens = (await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true })).body;
      return { http, cookie: http.cookies.get('latchkey_refresh')!, tokens };
    };
    const sessionOver = async (cookie: string) => (await refresh(new Http(app.url), cookie)).body.error === 'invalid_grant';

    // Expired: signed in one access-token lifetime and a minute ago (the Clock, not a sleep).
    clock.offsetMs = -(app.config.accessTokenTtl + 60) * 1000;
    const laptop = await browser().finally(() => (clock.offsetMs = 0));
    const expired = await laptop.http.get('/me', { token: laptop.tokens.access_token });
    assert.equal(expired.status, 401, 'the access token has expired');
    const everywhere = await laptop.http.post('/auth/logout?scope=global', undefined, { token: laptop.tokens.access_token, headers: csrf });
    assert.equal(everywhere.status, 401, 'the expired token adds nothing to the cookie: not other devices');
    assert.ok(await works(laptop.http, other));
    laptop.http.cookies.set('latchkey_refresh', laptop.cookie);
    const out = await laptop.http.post('/auth/logout', undefined, { token: laptop.tokens.access_token, headers: csrf });
    assert.equal(out.status, 204, out.text);
    assert.match(out.headers.getSetCookie().join('\n'), cleared, 'the cookie is cleared');
    assert.ok(await sessionOver(laptop.cookie), "the cookie's session is over");
    assert.ok(await works(laptop.http, other), 'and only that one');

    // Forged: another device's token with its signature changed names that device's session; only the cookie's ends.
    const [header, payload, signature] = other.access_token.split('.');
    const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    const tablet = await browser();
    for (const scope of ['others', 'global'])
      assert.equal((await tablet.http.post(`/auth/logout?scope=${scope}`, undefined, { token: forged, headers: csrf })).status, 401, scope);
    tablet.http.cookies.set('latchkey_refresh', tablet.cookie);
    assert.equal((await tablet.http.post('/auth/logout', undefined, { token: forged, headers: csrf })).status, 204);
    assert.ok(await sessionOver(tablet.cookie));
    assert.ok(await works(tablet.http, other), 'the session the forged token names is untouched');

    // Revoked: a token of a session already signed out, beside a live cookie.
    const phone = await browser();
    const gone = await login(new Http(app.url), user.email);
    assert.equal((await new Http(app.url).post('/auth/logout', undefined, { token: gone.access_token })).status, 204);
    assert.equal((await phone.http.post('/auth/logout?scope=global', undefined, { token: gone.access_token, headers: csrf })).status, 401);
    assert.ok(await works(phone.http, other));
    phone.http.cookies.set('latchkey_refresh', phone.cookie);
    assert.equal((await phone.http.post('/auth/logout', undefined, { token: gone.access_token, headers: csrf })).status, 204);
    assert.ok(await sessionOver(phone.cookie));
    assert.ok(await works(phone.http, other));

    // Without the CSRF header the failed token is all there is: refused, and the cookie's session lives on.
    const desktop = await browser();
    const noHeader = await desktop.http.post('/auth/logout', undefined, { token: forged });
    assert.equal(noHeader.status, 401);
    assert.ok(await works(desktop.http, desktop.tokens));
  });

  it('RFC 7009 revoke takes the refresh cookie with the CSRF header, and then always clears the cookie', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    const cookie = http.cookies.get('latchkey_refresh')!;
    const noHeader = await http.post('/auth/revoke', {}, { form: true });
    assert.equal(noHeader.status, 403);
    assert.deepEqual(noHeader.headers.getSetCookie(), [], 'a refused answer leaves the cookie alone (no logout CSRF)');
    assert.ok(await works(http, r.body), 'and revokes nothing');
    assert.equal(http.cookies.get('latchkey_refresh'), cookie);
    const revoked = await http.post('/auth/revoke', {}, { form: true, headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(revoked.status, 200);
    assert.match(revoked.headers.getSetCookie().join('\n'), /latchkey_refresh=;/);
    assert.equal(await works(http, r.body), false);
    const neither = await new Http(app.url).post('/auth/revoke', {}, { form: true });
    assert.equal(neither.status, 400);
    assert.equal(neither.body.error, 'invalid_request');
  });

  it('a request another site could make to a sign-out route is refused and never clears the cookie (no logout CSRF)', async () => {
    const http = new Http(app.url);
    const user = await register(http);
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
    const cookie = http.cookies.get('latchkey_refresh')!;
    // What a page on another origin can make a browser send with its cookie: a form post (any of
    // the three form encodings) or a fetch with a CORS-safelisted content type, and no custom header.
    const crossSite: Array<[string, () => Promise<Reply>, number]> = [
      ['logout, no body', () => http.post('/auth/logout'), 403],
      ['logout, form', () => http.post('/auth/logout', { scope: 'global' }, { form: true }), 415],
      ['logout, text/plain', () => http.post('/auth/logout', undefined, { raw: 'scope=global', contentType: 'text/plain' }), 415],
      [
        'logout, multipart',
        () =>
          http.post('/auth/logout', undefined, {
            raw: '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n',
            contentType: 'multipart/form-data; boundary=b',
          }),
        415,
      ],
      ['revoke, empty form', () => http.post('/auth/revoke', {}, { form: true }), 403],
      ['revoke, text/plain', () => http.post('/auth/revoke', undefined, { raw: 'token=x', contentType: 'text/plain' }), 415],
      ['revoke, a form with some token', () => http.post('/auth/revoke', { token: 'not-a-token' }, { form: true }), 200],
    ];
    for (const [label, send, status] of crossSite) {
      const answer = await send();
      assert.equal(answer.status, status, `${label}: ${answer.text}`);
      assert.deepEqual(answer.headers.getSetCookie(), [], `${label}: no Set-Cookie clears the cookie`);
      assert.equal(http.cookies.get('latchkey_refresh'), cookie);
    }
    assert.ok(await works(http, r.body), 'the session is intact');
    const next = await http.post('/auth/token', { grant_type: 'refresh_token' }, { form: true, headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(next.status, 200, `the cookie's session still refreshes: ${next.text}`);
    // A request no other site can make still clears it, even when refused: here with the header but a bad content type.
    const own = await http.post('/auth/logout', { scope: 'local' }, { form: true, headers: { 'x-latchkey-csrf': '1' } });
    assert.equal(own.status, 415);
    assert.match(own.headers.getSetCookie().join('\n'), /latchkey_refresh=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i);
  });

  it('names the cookie __Secure-… when it is Secure', async () => {
    const secure = await startApp({ COOKIE_SECURE: 'true' });
    try {
      const http = new Http(secure.url);
      const user = await register(http);
      const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, useCookie: true });
      assert.match(r.headers.getSetCookie().join('\n'), /^__Secure-latchkey_refresh=[^;]+;.*Secure/im);
      const next = await http.post('/auth/token', { grant_type: 'refresh_token' }, { form: true, headers: { 'x-latchkey-csrf': '1' } });
      assert.equal(next.status, 200, 'the prefixed cookie is the one read');
      assert.equal(http.cookies.has('latchkey_refresh'), false);
    } finally {
      await secure.close();
    }
  });

  it('has CORS off by default', async () => {
    const r = await fetch(`${app.url}/auth/token`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});

describe(`CORS allow-list [${TEST_DB}]`, () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({ CORS_ORIGINS: 'https://app.example.com' });
  });
  after(async () => app.close());

  it('allows only configured origins, with credentials', async () => {
    const allowed = await fetch(`${app.url}/auth/token`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-latchkey-csrf' },
    });
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
    const denied = await fetch(`${app.url}/auth/token`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(denied.headers.get('access-control-allow-origin'), null, 'no allow-origin at all for an origin not on the list (not even *)');
  });

  it('lets a browser client on an allowed origin send DPoP proofs, read Date and WWW-Authenticate, and follow its session stream', async () => {
    const origin = 'https://app.example.com';
    const preflight = await fetch(`${app.url}/auth/token`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'dpop' },
    });
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /\bdpop\b/);
    const http = new Http(app.url);
    const t = await login(http, (await register(http, uniqueEmail('cors'))).email);
    const me = await fetch(`${app.url}/me`, { headers: { origin, authorization: `Bearer ${t.access_token}` } });
    assert.match(me.headers.get('access-control-expose-headers') ?? '', /date.*www-authenticate/);
    const stream = await fetch(`${app.url}/auth/session/events`, { headers: { origin, authorization: `Bearer ${t.access_token}` } });
    assert.equal(stream.headers.get('access-control-allow-origin'), origin, 'the hijacked stream keeps its CORS headers');
    await stream.body?.cancel();
  });
});

describe(`housekeeping [${TEST_DB}]`, () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({ SESSION_RETENTION: '1d', AUDIT_RETENTION: '2d' });
  });
  after(async () => app.close());

  it('deletes long-revoked and long-expired sessions and old audit events, keeping the rest', async () => {
    const http = new Http(app.url);
    const user = await register(http, uniqueEmail('housekeeping'));
    const keep = await login(http, user.email, PASSWORD, { deviceId: 'keep-device-1' });
    const recentRevoked = await login(http, user.email, PASSWORD, { deviceId: 'recent-revoked-1' });
    const oldRevoked = await login(http, user.email, PASSWORD, { deviceId: 'old-revoked-1' });
    const oldExpired = await login(http, user.email, PASSWORD, { deviceId: 'old-expired-1' });
    const day = 86400_000;
    const now = Date.now();
    await app.database.exec('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ?', [now - 3600_000, 'user_logout', recentRevoked.session_id]);
    await app.database.exec('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ?', [now - 2 * day, 'user_logout', oldRevoked.session_id]);
    await app.database.exec('UPDATE sessions SET expires_at = ?, idle_expires_at = ? WHERE id = ?', [now - 2 * day, now - 2 * day, oldExpired.session_id]);
    const oldEvent = '01a20000-0000-7000-8000-00000000000a';
    const keptEvent = '01a20000-0000-7000-8000-00000000000b';
    await app.database.exec("INSERT INTO audit_events (id, type, created_at) VALUES (?, 'login_failed', ?)", [oldEvent, now - 3 * day]);
    // Just inside AUDIT_RETENTION (2 d): it must survive.
    await app.database.exec("INSERT INTO audit_events (id, type, created_at) VALUES (?, 'login_failed', ?)", [keptEvent, now - 2 * day + 60_000]);
    const result = await app.app.get(HousekeepingService).run(now);
    assert.equal(result.sessions, 2);
    assert.equal(result.events, 1);
    const left = await app.database.rows<{ id: string }>('SELECT id FROM sessions WHERE user_id = ?', [user.id]);
    assert.deepEqual(new Set(left.map((r) => r.id)), new Set([keep.session_id, recentRevoked.session_id]));
    const events = await column<{ id: string }>(app, 'SELECT id FROM audit_events WHERE id IN (?, ?)', [oldEvent, keptEvent]);
    assert.deepEqual(
      events.map((e) => e.id),
      [keptEvent],
      'the event past retention is gone, the one inside it stays',
    );
    assert.ok(await works(http, keep));
  });
});
