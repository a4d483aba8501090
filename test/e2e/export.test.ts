import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import Redis from 'ioredis';
import { startApp, freshDatabase, REDIS_URL, TEST_DB, TestApp, TestDatabase } from '../support/app';
import { auditCount, column } from '../support/db';
import { decodeJwt, eventually, Http, login, PASSWORD, refresh, register, Reply, sleep, Tokens, uniqueEmail } from '../support/http';
import { enrolTotp, firstStep, totpCode, verify } from '../support/mfa';
import { needs, redisAnswers } from '../support/services';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';
import { uuidv7 } from '../../src/common/ids';
import { AuditRepository } from '../../src/audit/audit.repository';

const ADMIN_EMAIL = 'export-admin@example.com';
const ADMIN_PASSWORD = 'export admin password';

/** Inserts `count` audit rows for the user in multi-row statements (fast), oldest first; every `tie`-th pair shares a timestamp. */
async function seedEvents(app: TestApp, userId: string, count: number, options: { userAgent?: string; tie?: number } = {}): Promise<void> {
  const start = Date.now() - 86_400_000;
  const userAgent = options.userAgent ?? 'Mozilla/5.0 (seeded)';
  for (let done = 0; done < count;) {
    const n = Math.min(500, count - done);
    const values: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const k = done + i;
      // With `tie`, rows k and k+1 share created_at for even k: the keyset's id tie-break is exercised.
      const at = start + (options.tie ? Math.floor(k / 2) : k);
      values.push(uuidv7(at), 'login_succeeded', userId, null, null, `203.0.113.${k % 250}`, userAgent, JSON.stringify({ seeded: k }), at);
    }
    await app.database.exec(
      `INSERT INTO audit_events (id, type, user_id, session_id, actor_id, ip, user_agent, details, created_at) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      values,
    );
    done += n;
  }
}

function exportOf(http: Http, token: string): Promise<Reply> {
  return http.get('/me/export', { token });
}

/** A request whose answer is read by hand, so the test decides when (and whether) to read on. */
function openExport(app: TestApp, token: string): Promise<IncomingMessage> {
  const url = new URL('/me/export', app.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

function firstChunk(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    response.once('data', (chunk: Buffer) => {
      response.pause();
      resolve(chunk);
    });
    response.once('error', reject);
  });
}

/** Reads the rest of the answer: its text, and whether it ended properly (false: cut off). */
function rest(response: IncomingMessage): Promise<{ text: string; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (complete: boolean) => {
      if (settled) return;
      settled = true;
      resolve({ text: Buffer.concat(chunks).toString('utf8'), complete });
    };
    response.on('data', (c: Buffer) => chunks.push(c));
    response.once('end', () => done(response.complete));
    response.once('aborted', () => done(false));
    response.once('error', () => done(false));
    response.once('close', () => done(response.complete));
    response.resume();
  });
}

describe(`data export (GET /me/export) [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const clock = new ShiftedClock();

  before(async () => {
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('is one JSON document of the account, its sessions past and present, factors, devices, links and own events: nothing of another user, no secret', async () => {
    // Another user, and an administrator who acts on our user: neither may show up in the export.
    const other = await register(http, uniqueEmail('export-other'));
    const otherTokens = await login(http, other.email, PASSWORD, { deviceName: 'Other phone' });
    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD, { deviceName: 'Admin desk' });

    const me = await register(http, uniqueEmail('export-me'), PASSWORD, 'Ada Export');
    const laptop = await login(http, me.email, PASSWORD, { deviceName: 'Laptop' });
    const phone = await login(http, me.email, PASSWORD, { deviceName: 'Phone' });
    assert.equal((await http.delete(`/me/sessions/${phone.session_id}`, { token: laptop.access_token })).status, 204, 'a past session');
    // The administrator disables and enables the account: events of ours whose actor is someone else.
    assert.equal(
      (await http.post(`/admin/users/${me.id}/disable`, undefined, { token: admin.access_token, headers: { 'user-agent': 'AdminBrowser/9.9' } })).status,
      200,
    );
    assert.equal(
      (await http.post(`/admin/users/${me.id}/enable`, undefined, { token: admin.access_token, headers: { 'user-agent': 'AdminBrowser/9.9' } })).status,
      200,
    );

    // A second factor (its secret and recovery codes), a trusted device, a mailed link.
    let tokens: Tokens = await login(http, me.email, PASSWORD, { deviceName: 'Desktop' });
    const totp = await enrolTotp(http, tokens.access_token, clock.now());
    const raised = await refresh(http, tokens.refresh_token);
    assert.equal(raised.status, 200, raised.text);
    tokens = raised.body;
    assert.equal(decodeJwt(tokens.access_token).payload.acr, 'aal2');
    clock.offsetMs += 60_000;
    const { mfaToken } = await firstStep(http, me.email, { deviceId: 'export-trusted-device', deviceName: 'Tablet' });
    const trusted = await verify(http, { mfaToken, method: 'totp', code: totpCode(totp.secret, clock.now()), trustDevice: true });
    assert.equal(trusted.status, 200, trusted.text);
    assert.ok(trusted.body.trustedDevice);
    assert.equal((await http.post('/auth/password/forgot', { email: me.email })).status, 202);
    // Mails make their links (and the reset's event) when they are sent: the verification, the new-device alerts, the reset.
    await eventually(
      async () => (await column(app, "SELECT id FROM account_links WHERE user_id = ? AND purpose = 'password_reset'", [me.id])).length === 1,
      10_000,
      50,
    );

    const r = await exportOf(http, tokens.access_token);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="latchkey-export-\d{4}-\d{2}-\d{2}\.json"$/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const doc = JSON.parse(r.text);

    assert.equal(doc.format, 'latchkey-export/1');
    assert.equal(doc.account.id, me.id);
    assert.equal(doc.account.email, me.email);
    assert.equal(doc.account.name, 'Ada Export');
    assert.ok(doc.account.lastLoginAt);
    assert.equal(doc.account.passwordHash, undefined);

    const sessionIds = (await column<{ id: string }>(app, 'SELECT id FROM sessions WHERE user_id = ?', [me.id])).map((s) => s.id).sort();
    assert.deepEqual(doc.sessions.map((s: { id: string }) => s.id).sort(), sessionIds, 'every session of the user, active and past');
    assert.equal(doc.sessions.find((s: { id: string }) => s.id === phone.session_id).revokedReason, 'user_revoked');
    assert.equal(doc.sessions.find((s: { id: string }) => s.id === laptop.session_id).revokedReason, 'user_disabled');
    assert.deepEqual(
      doc.sessions.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id),
      [tokens.session_id],
    );

    assert.equal(doc.factors.length, 1);
    assert.deepEqual(Object.keys(doc.factors[0]).sort(), ['active', 'createdAt', 'id', 'lastUsedAt', 'locked', 'name', 'type']);
    assert.deepEqual(doc.recoveryCodes, { remaining: 10 });
    assert.deepEqual(
      doc.trustedDevices.map((d: { deviceId: string }) => d.deviceId),
      ['export-trusted-device'],
    );
    const links = await column<{ purpose: string }>(app, 'SELECT purpose FROM account_links WHERE user_id = ? ORDER BY created_at, id', [me.id]);
    assert.deepEqual(
      doc.accountLinks.map((l: { purpose: string }) => l.purpose),
      links.map((l) => l.purpose),
    );
    assert.ok(links.some((l) => l.purpose === 'password_reset') && links.some((l) => l.purpose === 'session_report'));

    const eventIds = (await column<{ id: string }>(app, 'SELECT id FROM audit_events WHERE user_id = ?', [me.id])).map((e) => e.id).sort();
    assert.deepEqual(doc.auditEvents.map((e: { id: string }) => e.id).sort(), eventIds, "every one of the user's own events, and only those");
    const exported = doc.auditEvents.filter((e: { type: string }) => e.type === 'account_exported');
    assert.equal(exported.length, 1, 'the export itself is on the record');
    assert.equal(exported[0].sessionId, tokens.session_id);
    assert.equal(exported[0].actor, 'self');
    const disabled = doc.auditEvents.find((e: { type: string }) => e.type === 'user_disabled');
    assert.deepEqual([disabled.actor, disabled.ip, disabled.userAgent], ['admin', null, null], "the administrator's id, address and browser stay out");
    const times = doc.auditEvents.map((e: { createdAt: string }) => e.createdAt);
    assert.deepEqual(times, [...times].sort(), 'oldest first');
    assert.equal(await auditCount(app, 'account_exported', { userId: me.id }), 1);

    // No secret of the user, read straight from the database, and nothing of the other users.
    const [user] = await column<{ password_hash: string }>(app, 'SELECT password_hash FROM users WHERE id = ?', [me.id]);
    const salts = await column<{ salt: string }>(app, 'SELECT salt FROM sessions WHERE user_id = ?', [me.id]);
    const factorSecrets = await column<{ totp_secret: string }>(app, 'SELECT totp_secret FROM mfa_factors WHERE user_id = ?', [me.id]);
    const codeHashes = await column<{ code_hash: string }>(app, 'SELECT code_hash FROM recovery_codes WHERE user_id = ?', [me.id]);
    const deviceMacs = await column<{ token_mac: string }>(app, 'SELECT token_mac FROM trusted_devices WHERE user_id = ?', [me.id]);
    const linkIds = await column<{ id: string }>(app, 'SELECT id FROM account_links WHERE user_id = ?', [me.id]);
    const secrets: Array<[string, string]> = [
      ['password hash', user.password_hash],
      ...salts.map((s): [string, string] => ['refresh-chain salt', s.salt]),
      ...factorSecrets.map((f): [string, string] => ['sealed TOTP secret', f.totp_secret]),
      ['TOTP secret', totp.secret],
      ...codeHashes.map((c): [string, string] => ['recovery-code hash', c.code_hash]),
      ...totp.recoveryCodes.map((c): [string, string] => ['recovery code', c]),
      ...deviceMacs.map((d): [string, string] => ['trusted-device MAC', d.token_mac]),
      ['trusted-device token', trusted.body.trustedDevice],
      ['trusted-device token id', trusted.body.trustedDevice.split('.')[0]],
      ...linkIds.map((l): [string, string] => ['link id (half a mailed token)', l.id]),
      ...[laptop, phone, tokens, trusted.body].flatMap((t): Array<[string, string]> => [
        ['refresh token', t.refresh_token],
        ['refresh MAC', t.refresh_token.split('.').at(-1)!],
        ['access token', t.access_token],
        ['access-token signature', t.access_token.split('.')[2]],
      ]),
      ['other user id', other.id],
      ['other user e-mail', other.email],
      ['other user session', otherTokens.session_id],
      ['admin id', admin.user!.id],
      ['admin e-mail', ADMIN_EMAIL],
      ['admin session', admin.session_id],
      ['admin browser', 'AdminBrowser/9.9'],
    ];
    for (const [what, value] of secrets) {
      assert.ok(value && value.length >= 8, `${what} was read`);
      assert.ok(!r.text.includes(value), `the export holds the ${what}`);
    }
  });

  it('needs aal2 once the account has a second factor; refused, it is neither counted nor recorded', async () => {
    const me = await register(http, uniqueEmail('export-aal'));
    let tokens = await login(http, me.email);
    await enrolTotp(http, tokens.access_token, clock.now());
    // The session whose first factor this was is raised only at its next link; until then it is aal1.
    const r = await exportOf(http, tokens.access_token);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.body.error, 'insufficient_user_authentication');
    assert.match(r.headers.get('www-authenticate') ?? '', /error="insufficient_user_authentication", acr_values="aal2"/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(await auditCount(app, 'account_exported', { userId: me.id }), 0);
    tokens = (await refresh(http, tokens.refresh_token)).body;
    for (let i = 0; i < 3; i++) assert.equal((await exportOf(http, tokens.access_token)).status, 200, `export ${i + 1}: the refusals did not count`);
  });

  it('an account without a second factor exports from any session; past EXPORT_RATE_LIMIT (3/1h) a 429 with Retry-After, per user', async () => {
    const me = await register(http, uniqueEmail('export-limit'));
    const tokens = await login(http, me.email);
    for (let i = 0; i < 3; i++) assert.equal((await exportOf(http, tokens.access_token)).status, 200, `export ${i + 1}`);
    for (let i = 0; i < 2; i++) {
      const refused = await exportOf(http, tokens.access_token);
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.body.error, 'too_many_requests');
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter > 3500 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
    }
    assert.equal(await auditCount(app, 'account_exported', { userId: me.id }), 3);
    assert.equal(await auditCount(app, 'rate_limited', { userId: me.id }), 1, 'the first refusal is on the record, once');
    const someoneElse = await register(http, uniqueEmail('export-limit-other'));
    assert.equal((await exportOf(http, (await login(http, someoneElse.email)).access_token)).status, 200, 'the limit is per user');
    assert.equal((await http.get('/me/export')).status, 401);
  });

  it('walks any number of events in pages, in order, ties on the timestamp included', async () => {
    const me = await register(http, uniqueEmail('export-pages'));
    const tokens = await login(http, me.email);
    await seedEvents(app, me.id, 2_501, { tie: 2 });
    const r = await exportOf(http, tokens.access_token);
    assert.equal(r.status, 200);
    const events: Array<{ id: string; createdAt: string; details: { seeded?: number } | null }> = JSON.parse(r.text).auditEvents;
    const seeded = events.filter((e) => e.details?.seeded !== undefined).map((e) => e.details!.seeded!);
    assert.equal(seeded.length, 2_501);
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'no event twice');
    const expected = (await column<{ id: string }>(app, 'SELECT id FROM audit_events WHERE user_id = ? ORDER BY created_at, id', [me.id])).map((e) => e.id);
    assert.deepEqual(
      events.map((e) => e.id),
      expected,
      'every event, oldest first, across page boundaries',
    );
  });

  describe('streaming', () => {
    let me: { id: string; email: string };
    let pageQueries = 0;

    before(async () => {
      // Large rows, so that the document (≈ 25 MB) is far more than socket buffers hold: the server must wait for the reader.
      me = await register(http, uniqueEmail('export-stream'));
      await seedEvents(app, me.id, 30_000, { userAgent: `Mozilla/5.0 ${'x'.repeat(480)}` });
      const repository = app.app.get(AuditRepository, { strict: false });
      const page = repository.pageOfUser.bind(repository);
      repository.pageOfUser = (...args) => ((pageQueries += 1), page(...args));
    });

    it('stops querying when the client hangs up', async () => {
      const tokens = await login(http, me.email);
      pageQueries = 0;
      const response = await openExport(app, tokens.access_token);
      assert.equal(response.statusCode, 200);
      await firstChunk(response);
      response.destroy();
      let seen = -1;
      // Settled: no new page query for a while after the hang-up.
      while (seen !== pageQueries) {
        seen = pageQueries;
        await sleep(300);
      }
      assert.ok(pageQueries < 30, `${pageQueries} of 30 pages were read for a client that left after the first chunk`);
      assert.equal((await http.get('/health')).status, 200);
      assert.equal((await http.get('/me', { token: tokens.access_token })).status, 200, 'the server goes on serving');
    });

    it('a database error mid-stream ends the answer cut off (never a whole-looking document), and the server goes on', async () => {
      const tokens = await login(http, me.email);
      const response = await openExport(app, tokens.access_token);
      assert.equal(response.statusCode, 200, 'the status went out before the failure');
      await firstChunk(response);
      await app.database.exec('ALTER TABLE audit_events RENAME TO audit_events_away', []);
      let answer: { text: string; complete: boolean };
      try {
        answer = await rest(response);
      } finally {
        await app.database.exec('ALTER TABLE audit_events_away RENAME TO audit_events', []);
      }
      assert.equal(answer.complete, false, 'the answer did not end as a whole one');
      assert.throws(() => JSON.parse(answer.text), 'the text is not a valid document');
      assert.equal((await http.get('/me', { token: tokens.access_token })).status, 200, 'the server goes on serving');
    });
  });
});

describe(`data export limit shared through Redis [${TEST_DB}]`, async () => {
  const skip = needs(`Redis at ${REDIS_URL}`, await redisAnswers(), 'REQUIRE_REDIS');
  const prefix = `lktest:${process.pid}:${randomBytes(6).toString('hex')}:`;
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;

  before(async () => {
    if (skip) return;
    db = freshDatabase();
    const env = { REDIS_URL, REDIS_KEY_PREFIX: prefix, EXPORT_RATE_LIMIT: '2/1h' };
    a = await startApp(env, db);
    b = await startApp(env, db);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    if (skip) return;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('one allowance per user across instances', { skip }, async () => {
    const ha = new Http(a.url);
    const hb = new Http(b.url);
    const me = await register(ha, uniqueEmail('export-shared'));
    const tokens = await login(ha, me.email);
    assert.equal((await exportOf(ha, tokens.access_token)).status, 200);
    assert.equal((await exportOf(hb, tokens.access_token)).status, 200);
    assert.equal((await exportOf(ha, tokens.access_token)).status, 429);
    assert.equal((await exportOf(hb, tokens.access_token)).status, 429);
  });
});
