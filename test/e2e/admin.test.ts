import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from '../../src/common/ids';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { eventually, Http, login, PASSWORD, refresh, register, SESSION_FIELDS, Tokens, uniqueEmail } from '../support/http';
import { runCli } from '../support/processes';

const ADMIN_EMAIL = 'root-admin@example.com';
const ADMIN_PASSWORD = 'admin password 1';
// The contract's fields, with v2's emailVerified.
const USER_FIELDS = ['activeSessions', 'createdAt', 'disabled', 'email', 'emailVerified', 'id', 'lastLoginAt', 'mfaEnabled', 'name', 'role'];
const EVENT_FIELDS = ['actorId', 'createdAt', 'details', 'id', 'ip', 'sessionId', 'type', 'userAgent', 'userId'];
const MISSING = '01900000-0000-7000-8000-000000000000';

function assertNoSecrets(text: string): void {
  assert.ok(!text.includes('$argon2'), 'no password hash');
  assert.ok(!/password_?hash|"salt"|generation/i.test(text), 'no hash, salt or chain state');
}

function isIso(value: unknown): boolean {
  return typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value);
}

/** A user with `devices` signed-in sessions, each from its own device. */
async function userWithDevices(http: Http, devices: number, name?: string): Promise<{ id: string; email: string; sessions: Tokens[] }> {
  const email = uniqueEmail('target');
  const user = await register(http, email, PASSWORD, name);
  const sessions: Tokens[] = [];
  for (let i = 0; i < devices; i++)
    sessions.push(await login(http, email, PASSWORD, { deviceId: `device-${i}-${user.id.slice(-8)}`, deviceName: `Device ${i}` }));
  return { id: user.id, email, sessions };
}

/** Users inserted straight into the table (argon2 would make 100+ HTTP registrations slow). */
async function insertUsers(app: TestApp, rows: Array<{ email: string; name?: string | null; createdAt: number }>): Promise<string[]> {
  const ids: string[] = [];
  for (const r of rows) {
    const id = uuidv7(r.createdAt);
    await app.database.exec(
      'INSERT INTO users (id, email, name, password_hash, role, disabled_at, password_changed_at, created_at, updated_at, last_login_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, NULL)',
      [id, r.email, r.name ?? null, 'not-a-usable-hash', 'user', r.createdAt, r.createdAt],
    );
    ids.push(id);
  }
  return ids;
}

async function events(http: Http, token: string, query: string): Promise<any[]> {
  const r = await http.get(`/admin/events?${query}`, { token });
  assert.equal(r.status, 200, r.text);
  return r.body.items;
}

describe(`admin API [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let admin: Tokens;
  let adminId: string;
  let userToken: string;

  before(async () => {
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD });
    http = new Http(app.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    adminId = admin.user!.id;
    const plain = await userWithDevices(http, 1);
    userToken = plain.sessions[0].access_token;
  });
  after(async () => app.close());

  it('answers 401 without a token and 403 forbidden for a non-admin on every admin route, changing nothing', async () => {
    const victim = await userWithDevices(http, 1);
    const sid = victim.sessions[0].session_id;
    const routes: Array<[string, string]> = [
      ['GET', '/admin/users'],
      ['GET', `/admin/users/${victim.id}`],
      ['GET', `/admin/users/${victim.id}/sessions`],
      ['DELETE', `/admin/sessions/${sid}`],
      ['DELETE', `/admin/users/${victim.id}/sessions`],
      ['POST', `/admin/users/${victim.id}/disable`],
      ['POST', `/admin/users/${victim.id}/enable`],
      ['GET', '/admin/events'],
    ];
    for (const [method, path] of routes) {
      const anonymous = await http.request(method, path);
      assert.equal(anonymous.status, 401, `${method} ${path} without a token`);
      assert.equal(anonymous.body.error, 'invalid_token');
      assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
      const bogus = await http.request(method, path, undefined, { token: 'not.a.jwt' });
      assert.equal(bogus.status, 401, `${method} ${path} with a bad token`);
      assert.equal(bogus.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      const user = await http.request(method, path, undefined, { token: userToken });
      assert.equal(user.status, 403, `${method} ${path} as a user`);
      assert.equal(user.body.error, 'forbidden');
    }
    // None of it touched the victim.
    assert.equal((await http.get('/me', { token: victim.sessions[0].access_token })).status, 200);
    const still = await http.get(`/admin/users/${victim.id}`, { token: admin.access_token });
    assert.equal(still.body.disabled, false);
    assert.equal(still.body.activeSessions, 1);
  });

  it('shows a user with exactly the contract fields, ISO times and live active-session counts', async () => {
    const u = await userWithDevices(http, 2, 'Grace Hopper');
    const r = await http.get(`/admin/users/${u.id}`, { token: admin.access_token });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), USER_FIELDS);
    assert.equal(r.body.email, u.email);
    assert.equal(r.body.name, 'Grace Hopper');
    assert.equal(r.body.role, 'user');
    assert.equal(r.body.disabled, false);
    assert.equal(r.body.activeSessions, 2);
    assert.ok(isIso(r.body.createdAt) && isIso(r.body.lastLoginAt));
    assertNoSecrets(r.text);

    // Revoked sessions stop counting, in the list and for the one user.
    await http.post('/auth/logout', undefined, { token: u.sessions[0].access_token });
    assert.equal((await http.get(`/admin/users/${u.id}`, { token: admin.access_token })).body.activeSessions, 1);
    const listed = await http.get(`/admin/users?q=${encodeURIComponent(u.email)}`, { token: admin.access_token });
    assert.equal(listed.body.items.length, 1);
    assert.equal(listed.body.items[0].activeSessions, 1);
    assert.deepEqual(Object.keys(listed.body.items[0]).sort(), USER_FIELDS);
    assertNoSecrets(listed.text);

    assert.equal((await http.get(`/admin/users/${MISSING}`, { token: admin.access_token })).status, 404);
    const bad = await http.get('/admin/users/not-a-uuid', { token: admin.access_token });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'validation_failed');
  });

  it('pages through 100+ users newest first with no duplicates and no gaps, also while users are being added', async () => {
    // Some through HTTP, the bulk straight into the table; groups share a created_at so the id tie-break matters.
    for (let i = 0; i < 5; i++) await register(http, uniqueEmail('paged'));
    const base = Date.now() - 86_400_000;
    await insertUsers(
      app,
      Array.from({ length: 110 }, (_, i) => ({ email: `bulk-${i}-${base}@example.com`, name: `Bulk ${i}`, createdAt: base + Math.floor(i / 4) })),
    );
    const expected = (await app.database.rows<{ id: string }>('SELECT id FROM users ORDER BY created_at DESC, id DESC', [])).map((r) => r.id);
    assert.ok(expected.length >= 115);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: any = await http.get(`/admin/users?limit=7${cursor ? `&cursor=${cursor}` : ''}`, { token: admin.access_token });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.items.length <= 7);
      seen.push(...r.body.items.map((u: { id: string }) => u.id));
      cursor = r.body.nextCursor;
      if (cursor !== null) assert.match(cursor, /^[A-Za-z0-9_-]+$/);
      pages += 1;
      // Concurrent sign-ups land before the walk's position, so they neither repeat nor push rows out.
      if (pages === 3) for (let i = 0; i < 3; i++) await register(http, uniqueEmail('concurrent'));
    } while (cursor !== null && pages < 100);

    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    assert.deepEqual(seen, expected, 'every pre-existing user exactly once, in (created_at, id) order');

    const defaults = await http.get('/admin/users', { token: admin.access_token });
    assert.equal(defaults.body.items.length, 20, 'default limit 20');
    const max = await http.get('/admin/users?limit=100', { token: admin.access_token });
    assert.equal(max.body.items.length, 100);
    assert.equal(typeof max.body.nextCursor, 'string');
  });

  it('searches e-mail and name case-insensitively, with %, _ and \\ taken literally', async () => {
    const now = Date.now() - 3_600_000;
    const tag = `s${process.pid}${now.toString(36)}`;
    const [pct, under, back, plain] = await insertUsers(app, [
      { email: `${tag}-pct@example.com`, name: 'Discount 100% Off', createdAt: now },
      { email: `${tag}_under@example.com`, name: 'Under Score', createdAt: now + 1 },
      { email: `${tag}-back@example.com`, name: 'Back\\Slash', createdAt: now + 2 },
      { email: `${tag}-plain@example.com`, name: 'Plain Name', createdAt: now + 3 },
    ]);
    const search = async (q: string) => {
      const r = await http.get(`/admin/users?limit=100&q=${encodeURIComponent(q)}`, { token: admin.access_token });
      assert.equal(r.status, 200, r.text);
      return r.body.items.map((u: { id: string }) => u.id) as string[];
    };
    assert.deepEqual((await search(tag)).sort(), [pct, under, back, plain].sort());
    assert.deepEqual(await search(tag.toUpperCase()), [plain, back, under, pct], 'case-insensitive, newest first');
    assert.deepEqual(await search('100%'), [pct]);
    assert.deepEqual(await search('%'), [pct], '% is not a wildcard');
    assert.deepEqual(await search(`${tag}_`), [under], '_ is not a wildcard');
    assert.deepEqual(await search('k\\s'), [back], 'a backslash is an ordinary character');
    assert.deepEqual(await search('plain name'), [plain], 'names match, ignoring case');
    assert.deepEqual(await search("' OR 1=1 --"), [], 'bound, not interpolated');
    // Pagination works inside a search too.
    const first = await http.get(`/admin/users?limit=3&q=${tag}`, { token: admin.access_token });
    const second = await http.get(`/admin/users?limit=3&q=${tag}&cursor=${first.body.nextCursor}`, { token: admin.access_token });
    assert.deepEqual(
      [...first.body.items, ...second.body.items].map((u: { id: string }) => u.id),
      [plain, back, under, pct],
    );
    assert.equal(second.body.nextCursor, null);
  });

  it('rejects malformed query parameters with 400 validation_failed', async () => {
    const bad = [
      '/admin/users?limit=0',
      '/admin/users?limit=101',
      '/admin/users?limit=abc',
      '/admin/users?limit=1.5',
      '/admin/users?limit=-1',
      '/admin/users?limit=1e2',
      '/admin/users?limit=',
      '/admin/users?limit=1&limit=2',
      '/admin/users?cursor=***',
      `/admin/users?cursor=${Buffer.from('not json').toString('base64url')}`,
      `/admin/users?cursor=${Buffer.from('[1,"x"]').toString('base64url')}`,
      `/admin/users?cursor=${Buffer.from(`["1","${MISSING}"]`).toString('base64url')}`,
      `/admin/users?q=${'x'.repeat(201)}`,
      '/admin/users?role=admin',
      `/admin/users/${MISSING}/sessions?include=all`,
      '/admin/events?type=nope',
      '/admin/events?userId=42',
      '/admin/events?limit=1000',
      '/admin/events?cursor=%00',
      '/admin/sessions/not-a-uuid',
    ];
    for (const path of bad) {
      const r = path.startsWith('/admin/sessions')
        ? await http.delete(path, { token: admin.access_token })
        : await http.get(path, { token: admin.access_token });
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.equal(r.body.error, 'validation_failed', path);
      assert.ok(Array.isArray(r.body.details) && r.body.details.length > 0, path);
    }
    const limit = await http.get('/admin/users?limit=abc', { token: admin.access_token });
    assert.deepEqual(limit.body.details, [{ field: 'limit', message: 'limit must be a whole number from 1 to 100' }]);
  });

  it("lists a user's sessions, active only unless include=revoked, and 404 for an unknown user", async () => {
    const u = await userWithDevices(http, 3);
    const active = await http.get(`/admin/users/${u.id}/sessions`, { token: admin.access_token });
    assert.equal(active.status, 200);
    assert.equal(active.body.items.length, 3);
    for (const s of active.body.items) {
      assert.deepEqual(Object.keys(s).sort(), SESSION_FIELDS);
      assert.equal(s.current, false);
      assert.ok(isIso(s.createdAt) && isIso(s.lastUsedAt) && isIso(s.expiresAt));
    }
    assert.deepEqual(active.body.items.map((s: { id: string }) => s.id).sort(), u.sessions.map((s) => s.session_id).sort());
    assertNoSecrets(active.text);

    await http.post('/auth/logout', undefined, { token: u.sessions[1].access_token });
    const after = await http.get(`/admin/users/${u.id}/sessions`, { token: admin.access_token });
    assert.equal(after.body.items.length, 2);
    const all = await http.get(`/admin/users/${u.id}/sessions?include=revoked`, { token: admin.access_token });
    assert.equal(all.body.items.length, 3);
    const revoked = all.body.items.find((s: { id: string }) => s.id === u.sessions[1].session_id);
    assert.equal(revoked.revokedReason, 'user_logout');
    assert.ok(isIso(revoked.revokedAt));

    assert.equal((await http.get(`/admin/users/${MISSING}/sessions`, { token: admin.access_token })).status, 404);
  });

  it('revokes one device: 204, its tokens die at once, the others live, and the event names the admin', async () => {
    const u = await userWithDevices(http, 3);
    const [gone, kept1, kept2] = u.sessions;
    const r = await http.delete(`/admin/sessions/${gone.session_id}`, { token: admin.access_token });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');

    assert.equal((await http.get('/me', { token: gone.access_token })).status, 401);
    const dead = await refresh(http, gone.refresh_token);
    assert.equal(dead.status, 400);
    assert.equal(dead.body.error, 'invalid_grant');
    for (const s of [kept1, kept2]) {
      assert.equal((await http.get('/me', { token: s.access_token })).status, 200);
      assert.equal((await refresh(http, s.refresh_token)).status, 200);
    }

    const all = await http.get(`/admin/users/${u.id}/sessions?include=revoked`, { token: admin.access_token });
    assert.equal(all.body.items.find((s: { id: string }) => s.id === gone.session_id).revokedReason, 'admin_revoked');
    const ev = (await events(http, admin.access_token, `userId=${u.id}&type=session_revoked`)).find((e) => e.sessionId === gone.session_id);
    assert.ok(ev, 'session_revoked recorded');
    assert.equal(ev.actorId, adminId);
    assert.equal(ev.userId, u.id);
    assert.deepEqual(ev.details, { reason: 'admin_revoked' });

    // Revoking it again, or a session that never existed: 404.
    assert.equal((await http.delete(`/admin/sessions/${gone.session_id}`, { token: admin.access_token })).status, 404);
    assert.equal((await http.delete(`/admin/sessions/${MISSING}`, { token: admin.access_token })).status, 404);
  });

  it("revokes all of a user's sessions, answering {revoked: N}", async () => {
    const u = await userWithDevices(http, 3);
    const bystander = await userWithDevices(http, 1);
    const r = await http.delete(`/admin/users/${u.id}/sessions`, { token: admin.access_token });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { revoked: 3 });
    for (const s of u.sessions) {
      assert.equal((await http.get('/me', { token: s.access_token })).status, 401);
      assert.equal((await refresh(http, s.refresh_token)).body.error, 'invalid_grant');
    }
    assert.equal((await http.get('/me', { token: bystander.sessions[0].access_token })).status, 200);
    const evs = await events(http, admin.access_token, `userId=${u.id}&type=session_revoked`);
    assert.equal(evs.length, 3);
    assert.ok(evs.every((e) => e.actorId === adminId && e.details.reason === 'admin_revoked'));

    assert.deepEqual((await http.delete(`/admin/users/${u.id}/sessions`, { token: admin.access_token })).body, { revoked: 0 });
    assert.equal((await http.delete(`/admin/users/${MISSING}/sessions`, { token: admin.access_token })).status, 404);
  });

  it('disables a user: every session revoked in one go, login refused only after a correct password, then enables again', async () => {
    const u = await userWithDevices(http, 2);
    const r = await http.post(`/admin/users/${u.id}/disable`, undefined, { token: admin.access_token });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), USER_FIELDS);
    assert.equal(r.body.disabled, true);
    assert.equal(r.body.activeSessions, 0);

    for (const s of u.sessions) {
      assert.equal((await http.get('/me', { token: s.access_token })).status, 401);
      assert.equal((await refresh(http, s.refresh_token)).body.error, 'invalid_grant');
    }
    const sessions = await http.get(`/admin/users/${u.id}/sessions?include=revoked`, { token: admin.access_token });
    assert.ok(sessions.body.items.every((s: { revokedReason: string }) => s.revokedReason === 'user_disabled'));

    const wrong = await http.post('/auth/login', { email: u.email, password: 'wrong password' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_credentials');
    const right = await http.post('/auth/login', { email: u.email, password: PASSWORD });
    assert.equal(right.status, 403);
    assert.equal(right.body.error, 'account_disabled');

    const disabled = await events(http, admin.access_token, `userId=${u.id}&type=user_disabled`);
    assert.equal(disabled.length, 1);
    assert.equal(disabled[0].actorId, adminId);
    assert.deepEqual(disabled[0].details, { revokedSessions: 2 });
    const revokedEvents = await events(http, admin.access_token, `userId=${u.id}&type=session_revoked`);
    assert.equal(revokedEvents.length, 2);
    assert.ok(revokedEvents.every((e) => e.actorId === adminId && e.details.reason === 'user_disabled'));

    // Disabling twice changes nothing and records nothing more.
    assert.equal((await http.post(`/admin/users/${u.id}/disable`, undefined, { token: admin.access_token })).status, 200);
    assert.equal((await events(http, admin.access_token, `userId=${u.id}&type=user_disabled`)).length, 1);

    const enabled = await http.post(`/admin/users/${u.id}/enable`, undefined, { token: admin.access_token });
    assert.equal(enabled.status, 200);
    assert.equal(enabled.body.disabled, false);
    const again = await login(http, u.email);
    assert.equal((await http.get('/me', { token: again.access_token })).status, 200);
    const en = await events(http, admin.access_token, `userId=${u.id}&type=user_enabled`);
    assert.equal(en.length, 1);
    assert.equal(en[0].actorId, adminId);

    assert.equal((await http.post(`/admin/users/${MISSING}/disable`, undefined, { token: admin.access_token })).status, 404);
    assert.equal((await http.post(`/admin/users/${MISSING}/enable`, undefined, { token: admin.access_token })).status, 404);
    assert.equal((await http.post('/admin/users/nope/disable', undefined, { token: admin.access_token })).status, 400);
  });

  it('refuses to let an admin disable themselves', async () => {
    const r = await http.post(`/admin/users/${adminId}/disable`, undefined, { token: admin.access_token });
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'forbidden');
    assert.match(r.body.message, /own account/);
    assert.equal((await http.get('/me', { token: admin.access_token })).status, 200, 'still signed in');
    assert.equal((await http.get(`/admin/users/${adminId}`, { token: admin.access_token })).body.disabled, false);
  });

  it('serves the events feed newest first with type and user filters and cursor pages', async () => {
    const u = await userWithDevices(http, 2);
    await http.post('/auth/login', { email: u.email, password: 'wrong password' });
    const mine = await events(http, admin.access_token, `userId=${u.id}&limit=100`);
    assert.deepEqual(
      mine.map((e) => e.type),
      ['login_failed', 'login_succeeded', 'login_succeeded', 'user_registered'],
    );
    for (const e of mine) {
      assert.deepEqual(Object.keys(e).sort(), EVENT_FIELDS);
      assert.equal(e.userId, u.id);
      assert.ok(isIso(e.createdAt));
      assert.ok(e.details === null || (typeof e.details === 'object' && !Array.isArray(e.details)), 'details is an object, not JSON text');
    }
    assert.deepEqual(mine[0].details, { reason: 'wrong_password' });
    assert.equal(mine[1].sessionId, u.sessions[1].session_id);

    const times = mine.map((e) => Date.parse(e.createdAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
    );

    const failures = await events(http, admin.access_token, 'type=login_failed&limit=100');
    assert.ok(failures.length >= 1 && failures.every((e) => e.type === 'login_failed'));

    // Pages: no duplicates, no gaps, the same order as one big page.
    const whole = await events(http, admin.access_token, 'limit=100');
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const r: any = await http.get(`/admin/events?limit=9${cursor ? `&cursor=${cursor}` : ''}`, { token: admin.access_token });
      assert.equal(r.status, 200);
      paged.push(...r.body.items.map((e: { id: string }) => e.id));
      cursor = r.body.nextCursor;
    } while (cursor && paged.length < 100);
    assert.deepEqual(
      paged.slice(0, whole.length),
      whole.map((e) => e.id),
    );
    assert.equal(new Set(paged).size, paged.length);
    assert.equal((await http.get('/admin/events', { token: admin.access_token })).body.items.length, 20);
  });

  it('serves the dashboard page and its assets publicly, under the CSP, with no inline script', async () => {
    const page = await http.get('/admin');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'/);
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 1);
    for (const [, attrs, body] of scripts) {
      assert.match(attrs, /src="\/admin\/assets\/js\/[a-z-]+\.js"/, 'scripts are files');
      assert.equal(body.trim(), '', 'no inline script');
    }
    assert.ok(!/https?:\/\//.test(page.text.replace(/http:\/\/www\.w3\.org[^"']*/g, '')), 'nothing from another origin');

    const js = await http.get('/admin/assets/js/main.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    for (const [, spec] of js.text.matchAll(/from '([^']+)'/g)) {
      assert.match(spec, /^\.\/[a-z-]+\.js$/, 'modules import each other by relative path');
      assert.equal((await http.get(`/admin/assets/js/${spec.slice(2)}`)).status, 200, spec);
    }
    const css = await http.get('/admin/assets/style.css');
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    for (const path of ['/admin/assets/nope.js', '/admin/assets/js/nope.js', '/admin/assets/..%2F..%2F..%2Fpackage.json', '/admin/assets/js/..%2Fstyle.css']) {
      assert.equal((await http.get(path)).status, 404, path);
    }

    const doc = await http.get('/docs-json');
    for (const path of [
      '/admin/users',
      '/admin/users/{id}',
      '/admin/users/{id}/sessions',
      '/admin/sessions/{sessionId}',
      '/admin/users/{id}/disable',
      '/admin/users/{id}/enable',
      '/admin/events',
    ]) {
      assert.ok(doc.body.paths[path], `${path} is documented`);
    }
    assert.ok(doc.body.paths['/admin/users'].get.security, 'documented as bearer-protected');
    assert.equal(doc.body.paths['/admin'], undefined, 'the HTML page is not an API route');
  });

  it('create-admin reads the password from stdin; promote and demote keep at least one admin', async () => {
    const cli = (args: string[], stdin?: string) => runCli(app, args, stdin);

    const email = uniqueEmail('cli-admin');
    const created = await cli(['create-admin', email], 'cli admin password\n');
    assert.equal(created.code, 0, created.stderr);
    assert.ok(!created.stdout.includes('cli admin password') && !created.stderr.includes('cli admin password'), 'the password is never echoed');
    const asAdmin = await login(http, email, 'cli admin password');
    assert.equal(asAdmin.user!.role, 'admin');
    assert.equal((await http.get('/admin/users', { token: asAdmin.access_token })).status, 200);

    const again = await cli(['create-admin', email], 'another password\n');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);
    const short = await cli(['create-admin', uniqueEmail('short')], 'short\n');
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /at least 8/);

    const plain = await userWithDevices(http, 1);
    assert.equal((await http.get('/admin/users', { token: plain.sessions[0].access_token })).status, 403);
    const promoted = await cli(['promote', plain.email]);
    assert.equal(promoted.code, 0, promoted.stderr);
    const fresh = await login(http, plain.email);
    assert.equal(fresh.user!.role, 'admin');
    assert.equal((await http.get('/admin/users', { token: fresh.access_token })).status, 200);
    const ev = await events(http, admin.access_token, `userId=${plain.id}&type=user_promoted`);
    assert.equal(ev.length, 1);
    assert.equal((await cli(['promote', 'nobody@example.com'])).code, 1);

    // Demotion signs the account out, so its admin claim dies with its sessions.
    const demoted = await cli(['demote', plain.email]);
    assert.equal(demoted.code, 0, demoted.stderr);
    await eventually(async () => (await http.get('/admin/users', { token: fresh.access_token })).status === 401, 5000, 50);
    const revoked = await http.get(`/admin/users/${plain.id}/sessions?include=revoked`, { token: admin.access_token });
    const byFresh = revoked.body.items.find((x: { id: string }) => x.id === fresh.session_id);
    assert.equal(byFresh.revokedReason, 'role_changed', 'a reason of its own, not admin_revoked');
    const signOuts = (await events(http, admin.access_token, `userId=${plain.id}&type=session_revoked`)).filter((e) => e.details?.reason === 'role_changed');
    assert.ok(signOuts.length >= 1, 'each sign-out is recorded with its reason');
    assert.equal((await login(http, plain.email)).user!.role, 'user');
    assert.equal((await events(http, admin.access_token, `userId=${plain.id}&type=user_demoted`)).length, 1);

    // The last enabled admin cannot be demoted.
    assert.equal((await cli(['demote', email])).code, 0);
    const last = await cli(['demote', ADMIN_EMAIL]);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /last administrator/);
    assert.equal((await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)).user!.role, 'admin');
  });
});
