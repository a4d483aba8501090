import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import * as jose from 'jose';
import { Clock } from '../../src/common/clock';
import { DatabaseService } from '../../src/database/database.service';
import { SessionsService } from '../../src/sessions/sessions.service';
import { OpenStreams } from '../../src/auth/open-streams';
import { freshDatabase, startApp, startAppAtOwnUrl, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { FakeClock, ShiftedClock } from '../support/clock';
import { auditCount } from '../support/db';
import { Http, PASSWORD, Tokens, eventually, login, refresh, register } from '../support/http';
import { ResourceServerCredentials, addResourceServer, basicAuth, setSession } from '../support/resource-servers';

const ADMIN_EMAIL = 'rs-admin@example.com';
const ADMIN_PASSWORD = 'resource admin password';
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';

interface Page {
  events: string[];
  cursor: string;
  more: boolean;
}

/** Reads the feed as a resource server; `after` continues from a cursor. */
async function feed(http: Http, rs: ResourceServerCredentials, query = ''): Promise<Page> {
  const r = await http.get(`/auth/revocations${query}`, { headers: { authorization: rs.basic } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
  assert.deepEqual(Object.keys(r.body).sort(), ['cursor', 'events', 'more']);
  return r.body;
}

const setUser = (set: string): string => JSON.parse(Buffer.from(set.split('.')[1], 'base64url').toString()).sub_id.user.id;

/**
 * Follows the feed from `cursor` until it has nothing more, collecting the sessions it names
 * (of one user only, when given: a revocation from an earlier test may still be on its way,
 * since a position is given after commit).
 */
/** Every event after `cursor` (only the given users' when named), following `more`. */
async function drain(
  http: Http,
  rs: ResourceServerCredentials,
  cursor: string,
  users?: string | string[],
): Promise<{ sessions: string[]; cursor: string; events: string[] }> {
  const wanted = users === undefined ? undefined : new Set([users].flat());
  const events: string[] = [];
  for (;;) {
    const page = await feed(http, rs, `?after=${cursor}&limit=50`);
    events.push(...page.events.filter((e) => !wanted || wanted.has(setUser(e))));
    cursor = page.cursor;
    if (!page.more) return { sessions: events.map(setSession), cursor, events };
  }
}

describe(`resource servers: credentials, introspection and the revocation feed [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let admin: Tokens;
  let rs: ResourceServerCredentials;
  const clock = new ShiftedClock();

  before(async () => {
    app = await startAppAtOwnUrl({ ADMIN_EMAIL, ADMIN_PASSWORD, REFRESH_REUSE_GRACE: '1s' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    rs = await addResourceServer(http, admin.access_token);
  });
  after(async () => app.close());

  describe('credentials', () => {
    it('shows the secret once, lists servers without it, and audits additions and removals with the admin as actor', async () => {
      const added = await http.post('/admin/resource-servers', { name: 'billing-api' }, { token: admin.access_token });
      assert.equal(added.status, 201);
      assert.deepEqual(Object.keys(added.body).sort(), ['clientId', 'clientSecret', 'createdAt', 'name']);
      assert.match(added.body.clientSecret, /^lkrs_[A-Za-z0-9_-]{43}$/);
      const listed = await http.get('/admin/resource-servers', { token: admin.access_token });
      const entry = listed.body.items.find((s: { clientId: string }) => s.clientId === added.body.clientId);
      assert.deepEqual(Object.keys(entry).sort(), ['clientId', 'createdAt', 'name']);
      assert.ok(!listed.text.includes(added.body.clientSecret), 'the secret is never listed');
      const [stored] = await app.database.rows<{ secret_hash: string }>('SELECT secret_hash FROM resource_servers WHERE client_id = ?', [added.body.clientId]);
      assert.ok(!stored.secret_hash.includes(added.body.clientSecret.slice(5)), 'only a hash is stored');

      const basic = basicAuth(added.body.clientId, added.body.clientSecret);
      assert.equal((await http.get('/auth/revocations', { headers: { authorization: basic } })).status, 200);
      assert.equal((await http.delete(`/admin/resource-servers/${added.body.clientId}`, { token: admin.access_token })).status, 204);
      const removed = await http.get('/auth/revocations', { headers: { authorization: basic } });
      assert.equal(removed.status, 401, 'the secret of a removed resource server stops working');
      assert.equal(removed.body.error, 'invalid_client');
      assert.equal((await http.delete(`/admin/resource-servers/${added.body.clientId}`, { token: admin.access_token })).status, 404);
      assert.equal((await auditCount(app, 'resource_server_added', { userId: undefined })) >= 2, true);
      const events = await app.database.rows<{ type: string; actor_id: string }>(
        "SELECT type, actor_id FROM audit_events WHERE type IN ('resource_server_added', 'resource_server_removed') AND details LIKE ?",
        [`%${added.body.clientId}%`],
      );
      assert.deepEqual(events.map((e) => e.type).sort(), ['resource_server_added', 'resource_server_removed']);
      assert.ok(events.every((e) => e.actor_id === admin.user!.id));
    });

    it('answers 401 invalid_client with a Basic challenge for missing, malformed and wrong credentials, on both endpoints', async () => {
      const wrong = [
        undefined,
        'Bearer x',
        'Basic !!!',
        `Basic ${Buffer.from('no-colon').toString('base64')}`,
        basicAuth(rs.clientId, 'lkrs_wrong'),
        basicAuth('not-a-uuid', rs.clientSecret),
        basicAuth('0190a0a0-0000-7000-8000-000000000000', rs.clientSecret),
      ];
      for (const authorization of wrong) {
        for (const [method, path] of [
          ['GET', '/auth/revocations'],
          ['POST', '/auth/introspect'],
        ] as const) {
          const r = await http.request(method, path, method === 'POST' ? { token: 'x' } : undefined, { headers: authorization ? { authorization } : {} });
          assert.equal(r.status, 401, `${method} ${path} with ${authorization}`);
          assert.equal(r.body.error, 'invalid_client');
          assert.equal(r.headers.get('www-authenticate'), 'Basic realm="latchkey"');
        }
      }
    });

    it('is for administrators only', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      assert.equal((await http.get('/admin/resource-servers', { token: t.access_token })).status, 403);
      assert.equal((await http.post('/admin/resource-servers', { name: 'x' }, { token: t.access_token })).status, 403);
      assert.equal((await http.get('/admin/resource-servers')).status, 401);
    });
  });

  describe('introspection (RFC 7662)', () => {
    const introspect = async (token: string, hint?: string) => {
      const r = await http.post(
        '/auth/introspect',
        { token, ...(hint ? { token_type_hint: hint } : {}) },
        { form: true, headers: { authorization: rs.basic } },
      );
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('cache-control') ?? '', /no-store/);
      return r.body;
    };

    it('describes an active access token with its claims, and nothing but active:false once its session is revoked', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      const active = await introspect(t.access_token);
      assert.deepEqual(Object.keys(active).sort(), [
        'acr',
        'active',
        'amr',
        'aud',
        'auth_time',
        'exp',
        'iat',
        'iss',
        'jti',
        'role',
        'sid',
        'sub',
        'token_type',
      ]);
      assert.deepEqual([active.acr, active.amr], ['aal1', ['pwd']], 'a password login');
      assert.ok(Math.abs(active.auth_time - active.iat) <= 1, 'authenticated when issued');
      assert.equal(active.active, true);
      assert.equal(active.token_type, 'access_token');
      assert.equal(active.sub, user.id);
      assert.equal(active.sid, t.session_id);
      await http.post('/auth/logout', undefined, { token: t.access_token });
      assert.deepEqual(await introspect(t.access_token), { active: false });
    });

    it('describes a live refresh token by its chain, and never consumes or revokes it, even a replayed one', async () => {
      const user = await register(http);
      const t0 = await login(http, user.email);
      const active = await introspect(t0.refresh_token, 'refresh_token');
      assert.deepEqual(Object.keys(active).sort(), ['acr', 'active', 'amr', 'auth_time', 'exp', 'sid', 'sub', 'token_type']);
      assert.deepEqual([active.acr, active.amr], ['aal1', ['pwd']]);
      assert.equal(active.token_type, 'refresh_token');
      assert.equal(active.sid, t0.session_id);
      const t1 = (await refresh(http, t0.refresh_token)).body;
      clock.advance(1100); // past the reuse grace: t0 is now a replay
      for (let i = 0; i < 3; i++) assert.deepEqual(await introspect(t0.refresh_token), { active: false }, 'a replayed link is inactive');
      assert.equal(await auditCount(app, 'refresh_token_reuse', { sessionId: t0.session_id }), 0, 'introspecting a replay is not a theft detection');
      assert.equal((await introspect(t1.refresh_token)).active, true);
      assert.equal((await refresh(http, t1.refresh_token)).status, 200, 'the chain still works: introspection changed nothing');
    });

    it('answers active:false for anything else, and 400 invalid_request without a token', async () => {
      for (const token of ['garbage', 'a.b.c', 'x'.repeat(5000), `${'0'.repeat(8)}-0000-7000-8000-000000000000.0.t1.${'A'.repeat(43)}`])
        assert.deepEqual(await introspect(token), { active: false });
      const missing = await http.post('/auth/introspect', {}, { form: true, headers: { authorization: rs.basic } });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_request');
      assert.ok(missing.body.error_description);
    });

    it('works with a standard client (oauth4webapi) discovered from the metadata', async () => {
      const oauth = await import('oauth4webapi');
      const issuer = new URL(app.url);
      const as = await oauth.processDiscoveryResponse(
        issuer,
        await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }),
      );
      assert.equal(as.introspection_endpoint, `${app.url}/auth/introspect`);
      const client = { client_id: rs.clientId };
      const auth = oauth.ClientSecretBasic(rs.clientSecret);
      const user = await register(http);
      const t = await login(http, user.email);
      const response = await oauth.introspectionRequest(as, client, auth, t.access_token, { [oauth.allowInsecureRequests]: true });
      const result = await oauth.processIntrospectionResponse(as, client, response);
      assert.equal(result.active, true);
      assert.equal(result.sub, user.id);
      await http.post('/auth/logout', undefined, { token: t.access_token });
      const after = await oauth.processIntrospectionResponse(
        as,
        client,
        await oauth.introspectionRequest(as, client, auth, t.access_token, { [oauth.allowInsecureRequests]: true }),
      );
      assert.equal(after.active, false);
    });
  });

  describe('the revocation feed', () => {
    it('serves signed CAEP session-revoked SETs that verify with plain jose against the JWKS', async () => {
      const start = (await feed(http, rs)).cursor;
      const user = await register(http);
      const t = await login(http, user.email);
      await http.post('/auth/logout', undefined, { token: t.access_token });
      await eventually(async () => (await drain(http, rs, start, user.id)).sessions.length > 0, 5000);
      const { sessions, events } = await drain(http, rs, start, user.id);
      assert.deepEqual(sessions, [t.session_id]);
      const jwks = jose.createRemoteJWKSet(new URL(`${app.url}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jose.jwtVerify(events[0], jwks, { issuer: app.config.jwtIssuer, audience: rs.clientId, typ: 'secevent+jwt' });
      assert.equal(protectedHeader.typ, 'secevent+jwt');
      assert.ok(protectedHeader.kid);
      assert.deepEqual(payload.sub_id, { format: 'complex', session: { format: 'opaque', id: t.session_id }, user: { format: 'opaque', id: user.id } });
      const event = (payload.events as Record<string, { event_timestamp: number; reason_admin: { en: string } }>)[SESSION_REVOKED];
      assert.equal(event.reason_admin.en, 'user_logout');
      assert.ok(Math.abs(event.event_timestamp - Date.now() / 1000) < 60);
      assert.equal(typeof payload.jti, 'string');
      assert.equal(typeof payload.iat, 'number');
    });

    it('without a cursor: every revocation of the last access-token lifetime, oldest first; then nothing new after its cursor', async () => {
      const user = await register(http);
      const devices: Tokens[] = [];
      for (let i = 0; i < 3; i++) devices.push(await login(http, user.email, PASSWORD, { deviceId: `feed-window-${i}-device` }));
      for (const d of devices) await http.post('/auth/logout', undefined, { token: d.access_token });
      await eventually(async () => devices.every(() => true) && (await feed(http, rs)).events.map(setSession).includes(devices[2].session_id), 5000);
      const page = await feed(http, rs);
      const ids = page.events.map(setSession);
      const mine = ids.filter((id) => devices.some((d) => d.session_id === id));
      assert.deepEqual(
        mine,
        devices.map((d) => d.session_id),
        'in the order they were revoked',
      );
      assert.equal(new Set(ids).size, ids.length, 'none twice');
      assert.deepEqual((await feed(http, rs, `?after=${page.cursor}`)).events, []);
    });

    it('pages with limit and more, and a page cursor continues exactly where it stopped', async () => {
      const start = (await feed(http, rs)).cursor;
      const user = await register(http);
      const made: string[] = [];
      for (let i = 0; i < 7; i++) {
        const d = await login(http, user.email, PASSWORD, { deviceId: `feed-page-${i}-device` });
        await http.post('/auth/logout', undefined, { token: d.access_token });
        made.push(d.session_id);
      }
      await eventually(async () => (await drain(http, rs, start, user.id)).sessions.length === 7, 5000);
      const pages: Page[] = [];
      let cursor = start;
      do {
        pages.push(await feed(http, rs, `?after=${cursor}&limit=3`));
        cursor = pages[pages.length - 1].cursor;
      } while (pages[pages.length - 1].more);
      assert.ok(pages.length >= 3, 'seven events come in pages of three');
      assert.ok(
        pages.slice(0, -1).every((p) => p.events.length === 3 && p.more),
        'every page but the last is full and says more',
      );
      const all = pages.flatMap((p) => p.events);
      assert.equal(new Set(all).size, all.length, 'no event twice across pages');
      assert.deepEqual(all.filter((e) => setUser(e) === user.id).map(setSession), made, 'in the order they were revoked');
    });

    it('holds a long poll until a revocation arrives, then answers at once', async () => {
      const { cursor } = await feed(http, rs);
      const user = await register(http);
      const t = await login(http, user.email);
      const started = Date.now();
      const held = app.app.get(OpenStreams).size;
      const waiting = feed(http, rs, `?after=${cursor}&wait=20`);
      await eventually(async () => app.app.get(OpenStreams).size > held, 10_000); // the poll is held: waited for, not slept
      await http.post('/auth/logout', undefined, { token: t.access_token });
      const page = await waiting;
      assert.deepEqual(page.events.map(setSession), [t.session_id]);
      assert.ok(Date.now() - started < 15_000, 'answered when the event came, not at the end of the wait');
      const idle = await feed(http, rs, `?after=${page.cursor}&wait=1`);
      assert.deepEqual(idle, { events: [], cursor: page.cursor, more: false }, 'nothing new within the wait: the same cursor back');
    });

    it('streams Server-Sent Events, and Last-Event-ID resumes after the last one received', async () => {
      const { cursor } = await feed(http, rs);
      const stream = openStream(app.url, rs.basic, cursor);
      try {
        await stream.until((text) => text.includes('id: '));
        assert.match(
          await stream.until((text) => text.includes('event: jwks')),
          /event: jwks\ndata: [A-Za-z0-9_-]{16}\n\n/,
          'the JWKS version, for receivers to notice a key change',
        );
        const user = await register(http);
        const a = await login(http, user.email, PASSWORD, { deviceId: 'sse-device-a' });
        const b = await login(http, user.email, PASSWORD, { deviceId: 'sse-device-b' });
        await http.post('/auth/logout', undefined, { token: a.access_token });
        const events = (text: string) => text.split('\n\n').filter((blk) => blk.startsWith('id: ') && blk.includes('\ndata: '));
        const seen = await stream.until((text) => events(text).length > 0);
        const [block] = events(seen);
        const lastId = /^id: (.+)$/m.exec(block)![1];
        assert.equal(setSession(/^data: (.+)$/m.exec(block)![1]), a.session_id);
        stream.close();
        await http.post('/auth/logout', undefined, { token: b.access_token });
        const resumed = openStream(app.url, rs.basic, undefined, lastId);
        try {
          const text = await resumed.until((t) => events(t).length > 0);
          const sessions = events(text).map((blk) => setSession(/^data: (.+)$/m.exec(blk)![1]));
          assert.deepEqual(sessions, [b.session_id], 'only what came after the last event received');
        } finally {
          resumed.close();
        }
      } finally {
        stream.close();
      }
    });

    it('refuses malformed cursors, out-of-range wait and limit, with 400 invalid_request, and changes nothing', async () => {
      for (const query of [
        '?after=',
        '?after=%00',
        '?after=not-a-cursor',
        `?after=${'A'.repeat(65)}`,
        `?after=${Buffer.from('x.1').toString('base64url')}`.slice(0, -1),
        `?after=${Buffer.from('epoch.01').toString('base64url')}`,
        '?wait=31',
        '?wait=-1',
        '?wait=1e9',
        '?limit=0',
        '?limit=1001',
        '?limit=99999999999',
        '?after=a&after=b',
      ]) {
        const r = await http.get(`/auth/revocations${query}`, { headers: { authorization: rs.basic } });
        assert.equal(r.status, 400, `${query}: ${r.text}`);
        assert.equal(r.body.error, 'invalid_request', query);
        assert.ok(r.body.error_description, query);
      }
    });

    it('answers a cursor from an earlier life of the log (another epoch) from the window start', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      await http.post('/auth/logout', undefined, { token: t.access_token });
      await eventually(async () => (await feed(http, rs)).events.map(setSession).includes(t.session_id), 5000);
      const old = await feed(http, rs, `?after=${Buffer.from('0ldEpoch.12345').toString('base64url')}`);
      assert.deepEqual(old.events.map(setSession), (await feed(http, rs)).events.map(setSession));
    });
  });
});

describe(`the feed misses no revocation, whatever the commit order or the clocks [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let a: TestApp;
  let skewed: TestApp;
  let http: Http;
  let rs: ResourceServerCredentials;

  before(async () => {
    db = freshDatabase();
    a = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD }, db);
    // A second instance whose clock is ten minutes slow: its revocations carry old timestamps.
    skewed = await startApp({}, db, [{ provide: Clock, useValue: new FakeClock(Date.now() - 600_000) }]);
    http = new Http(a.url);
    rs = await addResourceServer(http, (await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token);
  });
  after(async () => {
    await skewed?.close();
    await a?.close();
    await db?.drop();
  });

  it('serves a revocation whose transaction committed after a later one that a receiver already read', async () => {
    // Two users: a revocation checks its session's user row (the foreign key), so with one user an
    // unrelated writer queued on that row (the verification mail's link) would stand between T1,
    // held open here, and T2, and T2 would wait for it; no real transaction is held open like T1.
    const user = await register(http);
    const other = await register(http);
    const first = await login(http, user.email, PASSWORD, { deviceId: 'commit-order-first' });
    const second = await login(http, other.email, PASSWORD, { deviceId: 'commit-order-second' });
    const both = [user.id, other.id];
    const { cursor: start } = await feed(http, rs);
    const sessions = a.app.get(SessionsService);
    const database = a.app.get(DatabaseService);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // T1 revokes `first` (stamped first) and stays open; T2 revokes `second` and commits.
    let t1Revoked!: () => void;
    const t1HasRevoked = new Promise<void>((resolve) => (t1Revoked = resolve));
    const t1 = database.transaction(async (tx) => {
      await sessions.revoke({ sessionId: first.session_id }, 'user_logout', { actorId: null, client: null }, tx);
      t1Revoked();
      await held;
    });
    await t1HasRevoked;
    const t2 = sessions.revoke({ sessionId: second.session_id }, 'user_logout', { actorId: null, client: null });
    let seen: string[] = [];
    let cursor = start;
    if (TEST_DB === 'mysql') {
      // MySQL runs T2 while T1 is open: the receiver reads T2's revocation first.
      await t2;
      try {
        await eventually(async () => (await drain(http, rs, start, both)).sessions.includes(second.session_id), 5000);
        ({ sessions: seen, cursor } = await drain(http, rs, start, both));
        assert.deepEqual(seen, [second.session_id], 'the later-stamped revocation, committed first, is served first');
      } finally {
        release();
      }
    } // SQLite queues transactions: T2 waits for T1, so the two cannot commit out of order there.
    release();
    await t1;
    await t2;
    await eventually(async () => (await drain(http, rs, cursor, both)).sessions.length + seen.length >= 2, 5000);
    const rest = await drain(http, rs, cursor, both);
    assert.deepEqual(
      [...seen, ...rest.sessions].sort(),
      [first.session_id, second.session_id].sort(),
      'both served, neither twice: the late commit was not skipped',
    );
  });

  it('serves revocations made on an instance whose clock is ten minutes behind', async () => {
    const { cursor } = await feed(http, rs);
    const user = await register(http);
    const t = await login(new Http(skewed.url), user.email);
    assert.equal((await new Http(skewed.url).post('/auth/logout', undefined, { token: t.access_token })).status, 204);
    await eventually(async () => (await drain(http, rs, cursor, user.id)).sessions.includes(t.session_id), 5000, 20);
  });
});

/** A raw SSE reader (no client library): what the wire carries is what is checked. */
function openStream(base: string, authorization: string, after?: string, lastEventId?: string) {
  let text = '';
  const waiters: Array<() => void> = [];
  const url = new URL(`/auth/revocations${after ? `?after=${after}` : ''}`, base);
  const req = httpRequest(url, { headers: { accept: 'text/event-stream', authorization, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } }, (res) => {
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      for (const w of waiters.splice(0)) w();
    });
  });
  req.on('error', () => undefined);
  req.end();
  return {
    /** Resolves with everything received once `check` holds (bounded). */
    async until(check: (text: string) => boolean, ms = 10_000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!check(text)) {
        if (Date.now() > deadline) throw new Error(`stream: condition not met within ${ms} ms; got ${JSON.stringify(text.slice(-300))}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return text;
    },
    close: () => req.destroy(),
  };
}
