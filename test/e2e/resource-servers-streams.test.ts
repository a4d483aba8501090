import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import * as jose from 'jose';
import { OpenStreams } from '../../src/auth/open-streams';
import { SigningKeysService } from '../../src/auth/signing-keys.service';
import { ResourceServersRepository } from '../../src/resource-servers/resource-servers.repository';
import { FEED_HEARTBEAT_MS, RevocationFeed } from '../../src/resource-servers/revocation-feed.service';
import { RevocationLog } from '../../src/sessions/revocation-log';
import { freshDatabase, startApp, TestApp, TEST_DB } from '../support/app';
import { Http, Tokens, eventually, login, register } from '../support/http';
import { ResourceServerCredentials, addResourceServer, setSession } from '../support/resource-servers';

const ADMIN_EMAIL = 'streams-admin@example.com';
const ADMIN_PASSWORD = 'streams admin password';

/** A raw SSE receiver of the feed: what it received so far, whether it ended, and its close. */
function openStream(base: string, authorization: string) {
  const state = { status: 0, text: '', ended: false, retryAfter: undefined as string | undefined };
  const req = httpRequest(new URL('/auth/revocations', base), { headers: { accept: 'text/event-stream', authorization }, agent: false }, (res) => {
    state.status = res.statusCode ?? 0;
    state.retryAfter = res.headers['retry-after'];
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (state.text += chunk));
    res.on('end', () => (state.ended = true));
    res.on('close', () => (state.ended = true));
  });
  req.on('error', () => (state.ended = true));
  req.end();
  return { state, close: () => req.destroy() };
}

const heartbeats = (text: string) => text.split(': keep-alive\n\n').length - 1;

/** The position part of a cursor, and its epoch. */
function readCursor(cursor: string): { epoch: string; seq: number } {
  const [epoch, seq] = Buffer.from(cursor, 'base64url').toString('utf8').split('.');
  return { epoch, seq: Number(seq) };
}
const makeCursor = (epoch: string, seq: number) => Buffer.from(`${epoch}.${seq}`).toString('base64url');

describe(`the revocation feed's open streams [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let admin: Tokens;
  let rs: ResourceServerCredentials;
  let other: ResourceServerCredentials;
  const streams: Array<{ close(): void }> = [];

  before(async () => {
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD, STREAMS_PER_CLIENT: '3' }, undefined, [{ provide: FEED_HEARTBEAT_MS, useValue: 100 }]);
    http = new Http(app.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    rs = await addResourceServer(http, admin.access_token, 'capped');
    other = await addResourceServer(http, admin.access_token, 'other');
  });
  after(async () => {
    for (const s of streams) s.close();
    await app?.close();
  });

  const open = (credentials: ResourceServerCredentials) => {
    const s = openStream(app.url, credentials.basic);
    streams.push(s);
    return s;
  };

  it('caps streams and held long polls per resource server: 429 too_many_requests with Retry-After; other servers and plain pages are not held back', async () => {
    const held = [open(rs), open(rs), open(rs)];
    await eventually(async () => held.every((s) => s.state.status === 200 && s.state.text.includes('id: ')), 5000);
    const fourth = open(rs);
    await eventually(async () => fourth.state.ended, 5000);
    assert.equal(fourth.state.status, 429);
    assert.match(fourth.state.retryAfter ?? '', /^[1-9]\d*$/);
    assert.equal(JSON.parse(fourth.state.text).error, 'too_many_requests');

    const page = await http.get('/auth/revocations', { headers: { authorization: rs.basic } });
    assert.equal(page.status, 200, 'a page that is not held takes no slot');
    const poll = await http.get(`/auth/revocations?after=${page.body.cursor}&wait=5`, { headers: { authorization: rs.basic } });
    assert.equal(poll.status, 429, 'a long poll that would be held takes a slot');
    assert.equal(poll.body.error, 'too_many_requests');
    assert.match(poll.headers.get('retry-after') ?? '', /^[1-9]\d*$/);

    const elsewhere = open(other);
    await eventually(async () => elsewhere.state.status === 200, 5000);

    held[0].close();
    await eventually(
      async () => {
        const again = await http.get(`/auth/revocations?after=${page.body.cursor}&wait=1`, { headers: { authorization: rs.basic } });
        return again.status === 200;
      },
      5000,
      50,
    );
    for (const s of held) s.close();
  });

  it("checks that the servers of every open stream are still registered with one query a heartbeat, not one per stream, and ends a removed server's streams", async () => {
    const kept = [open(rs), open(rs), open(rs)];
    const removed = await addResourceServer(http, admin.access_token, 'to be removed');
    const doomed = [open(removed), open(removed), open(removed)];
    await eventually(async () => [...kept, ...doomed].every((s) => s.state.status === 200 && s.state.text.includes('id: ')), 5000);

    const repository = app.app.get(ResourceServersRepository);
    let queries = 0;
    const originalFind = repository.find.bind(repository);
    const originalExisting = repository.existing.bind(repository);
    repository.find = (...args) => (queries++, originalFind(...args));
    repository.existing = (...args) => (queries++, originalExisting(...args));
    try {
      const start = heartbeats(kept[0].state.text);
      await eventually(async () => heartbeats(kept[0].state.text) >= start + 5, 10_000);
      const rounds = heartbeats(kept[0].state.text) - start;
      // Six streams of two servers: one query a round (plus a round in flight), not six.
      assert.ok(queries <= rounds + 1, `${queries} registration queries for ${rounds} heartbeats of 6 streams`);
    } finally {
      repository.find = originalFind;
      repository.existing = originalExisting;
    }

    assert.equal((await http.delete(`/admin/resource-servers/${removed.clientId}`, { token: admin.access_token })).status, 204);
    await eventually(async () => doomed.every((s) => s.state.ended), 5000);
    const before = heartbeats(kept[0].state.text);
    await eventually(async () => heartbeats(kept[0].state.text) > before, 5000);
    assert.ok(
      kept.every((s) => !s.state.ended),
      "the other server's streams go on",
    );
    for (const s of kept) s.close();
  });

  it('leaves nothing registered on the application-wide signal after many long polls (no AbortSignal.any per wait)', async () => {
    const feed = app.app.get(RevocationFeed);
    const log = app.app.get(RevocationLog);
    const closing = (feed as unknown as { closing: AbortController }).closing.signal;
    const dependants = () => {
      const symbol = Object.getOwnPropertySymbols(closing).find((s) => s.description === 'kDependantSignals');
      return symbol ? ((closing as unknown as Record<symbol, Set<unknown> | undefined>)[symbol]?.size ?? 0) : 0;
    };
    const own = await addResourceServer(http, admin.access_token, 'long polls');
    const server = { clientId: own.clientId, name: 'long polls', createdAt: 0 };
    const listenersBefore = getEventListeners(closing, 'abort').length;
    const dependantsBefore = dependants();
    for (let i = 0; i < 300; i++) {
      const gone = new AbortController();
      const page = feed.page(server, log.head, 10, 30, gone.signal);
      setImmediate(() => gone.abort());
      assert.deepEqual((await page).events, []);
    }
    assert.equal(getEventListeners(closing, 'abort').length, listenersBefore, 'every wait removed its listener');
    assert.equal(dependants(), dependantsBefore, 'no composite signal per wait stays attached');
  });
});

describe(`feed cursors: beyond the head, and a restored database [${TEST_DB}]`, () => {
  const db = freshDatabase();
  let a: TestApp;
  let b: TestApp;
  let http: Http;
  let rs: ResourceServerCredentials;

  before(async () => {
    a = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD }, db);
    // B polls the log rarely: what A sequenced reaches B's memory only when B reads the database.
    b = await startApp({ REVOCATION_POLL_MS: '60000' }, db);
    http = new Http(a.url);
    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    rs = await addResourceServer(http, admin.access_token, 'cursors');
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await db.drop();
  });

  const page = async (base: string, query: string) => {
    const r = await new Http(base).get(`/auth/revocations${query}`, { headers: { authorization: rs.basic } });
    return r;
  };

  /** Revokes a fresh session on A and returns its id once A's feed has it. */
  async function revokeOne(): Promise<{ sessionId: string; cursor: string }> {
    const user = await register(http);
    const t = await login(http, user.email);
    assert.equal((await http.post('/auth/logout', undefined, { token: t.access_token })).status, 204);
    let cursor = '';
    await eventually(
      async () => {
        const r = await page(a.url, '');
        cursor = r.body.cursor;
        return r.body.events.map(setSession).includes(t.session_id);
      },
      5000,
      20,
    );
    return { sessionId: t.session_id, cursor };
  }

  it('refuses a cursor beyond the head with 400 invalid_request, but not one another instance issued before this one read it', async () => {
    const { cursor } = await revokeOne();
    const { epoch, seq } = readCursor(cursor);
    const beyond = await page(a.url, `?after=${makeCursor(epoch, seq + 1000)}`);
    assert.equal(beyond.status, 400, beyond.text);
    assert.equal(beyond.body.error, 'invalid_request');
    assert.ok(beyond.body.error_description);

    const fresh = await revokeOne();
    const onB = await page(b.url, `?after=${fresh.cursor}`);
    assert.equal(onB.status, 200, `B reads the database before refusing a cursor beyond its own head: ${onB.text}`);
    assert.deepEqual(onB.body.events, []);
  });

  it('survives a database restore: the log takes a new epoch, and a receiver of the lost history misses none of the new revocations', async () => {
    await revokeOne();
    await revokeOne();
    const { cursor } = await revokeOne();
    const { epoch, seq } = readCursor(cursor);
    // The restore: the database as it was before the last two revocations were sequenced.
    await a.database.exec('DELETE FROM session_revocations WHERE seq > ?', [seq - 2]);
    await a.database.exec('UPDATE revocation_sequence SET last_seq = ? WHERE id = 1', [seq - 2]);

    const fresh = [await revokeOne(), await revokeOne(), await revokeOne()].map((r) => r.sessionId);
    const now = readCursor((await page(a.url, '')).body.cursor);
    assert.notEqual(now.epoch, epoch, 'a new epoch once last_seq went back');
    // The receiver still holds a cursor of the lost history: it is answered from the window's start.
    const resumed = await page(a.url, `?after=${cursor}&limit=1000`);
    assert.equal(resumed.status, 200, resumed.text);
    const sessions = resumed.body.events.map(setSession);
    for (const id of fresh) assert.ok(sessions.includes(id), 'every revocation made after the restore reaches it');
    // The other instance follows the new epoch too.
    await b.app.get(RevocationLog).catchUp();
    assert.equal(readCursor((await page(b.url, '')).body.cursor).epoch, now.epoch);
  });
});

describe(`the log keeps its epoch under concurrent sequencing and catch-up [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let rs: ResourceServerCredentials;

  before(async () => {
    // Polls as often as allowed, so catch-ups run while this instance sequences.
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD, REVOCATION_POLL_MS: '50', MAX_SESSIONS_PER_USER: '500' });
    http = new Http(app.url);
    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    rs = await addResourceServer(http, admin.access_token, 'busy');
  });
  after(async () => app?.close());

  it('does not mistake its own progress for a restored database', async () => {
    const epoch = readCursor((await http.get('/auth/revocations', { headers: { authorization: rs.basic } })).body.cursor).epoch;
    const user = await register(http);
    const sessions: Tokens[] = [];
    for (let i = 0; i < 120; i++) sessions.push(await login(http, user.email, undefined, { deviceId: `busy-device-${i}` }));
    const log = app.app.get(RevocationLog);
    for (let i = 0; i < sessions.length; i += 12) {
      await Promise.all([
        ...sessions.slice(i, i + 12).map((t) => http.post('/auth/logout', undefined, { token: t.access_token })),
        log.catchUp(),
        log.catchUp(),
      ]);
    }
    await eventually(
      async () => (await http.get('/auth/revocations?limit=1000', { headers: { authorization: rs.basic } })).body.events.length >= sessions.length,
      10_000,
      50,
    );
    assert.equal(log.epoch, epoch, 'no start-over without a restore');
  });
});

describe(`the feed after a signing key is revoked, browsers' streams beside feeds, receivers gone early [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let admin: Tokens;
  let rs: ResourceServerCredentials;
  const streams: Array<{ close(): void }> = [];

  before(async () => {
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD, STREAMS_MAX: '4', STREAMS_PER_CLIENT: '3' }, undefined, [
      { provide: FEED_HEARTBEAT_MS, useValue: 100 },
    ]);
    http = new Http(app.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    rs = await addResourceServer(http, admin.access_token, 'keys and slots');
  });
  after(async () => {
    for (const s of streams) s.close();
    await app?.close();
  });

  it('serves every SET, from a full read or a stream, signed by a key the JWKS lists now, after the signing key that signed it was revoked', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    await http.post('/auth/logout', undefined, { token: t.access_token });
    // Read until the revocation is in the log (sequenced after its commit): its SET is signed and cached.
    await eventually(
      async () => {
        const before = await http.get('/auth/revocations', { headers: { authorization: rs.basic } });
        return before.status === 200 && before.body.events.some((e: string) => setSession(e) === t.session_id);
      },
      5000,
      50,
    );

    const keys = app.app.get(SigningKeysService);
    const { replacement } = await keys.revoke(keys.signingKey.kid);
    assert.ok(replacement, 'the revoked key was signing');

    const jwks = jose.createLocalJWKSet((await http.get('/.well-known/jwks.json')).body);
    const verifyAll = async (events: string[]) => {
      assert.ok(events.length > 0);
      for (const set of events) await jose.jwtVerify(set, jwks, { audience: rs.clientId, typ: 'secevent+jwt' });
    };
    const page = await http.get('/auth/revocations', { headers: { authorization: rs.basic } });
    await verifyAll(page.body.events);
    const stream = openStream(app.url, rs.basic);
    streams.push(stream);
    await eventually(async () => stream.state.text.includes('data: ey'), 5000);
    await verifyAll([...stream.state.text.matchAll(/^data: (ey\S+)$/gm)].map((m) => m[1]));
    stream.close();
    await eventually(async () => app.app.get(OpenStreams).size === 0, 5000);
  });

  it("keeps half of STREAMS_MAX for resource servers' feeds: browsers' streams past their half get 503, a feed still opens", async () => {
    const opened: AbortController[] = [];
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const user = await register(http);
        const t = await login(http, user.email);
        const controller = new AbortController();
        opened.push(controller);
        const response = await fetch(`${app.url}/auth/session/events`, {
          headers: { authorization: `Bearer ${t.access_token}`, accept: 'text/event-stream' },
          signal: controller.signal,
        });
        statuses.push(response.status);
        if (response.status !== 200) await response.body?.cancel();
      }
      assert.deepEqual(statuses, [200, 200, 503, 503], "browsers' streams take at most half of STREAMS_MAX=4");
      const feed = openStream(app.url, rs.basic);
      streams.push(feed);
      await eventually(async () => feed.state.status !== 0, 5000);
      assert.equal(feed.state.status, 200, 'a feed stream opens while browsers hold all they may');
      feed.close();
    } finally {
      for (const c of opened) c.abort();
    }
    await eventually(async () => app.app.get(OpenStreams).size === 0, 5000);
  });

  it('frees the slot of a feed stream whose receiver hung up before its first byte', async () => {
    // Each request reaches the stream only once its receiver is gone, as when it hangs up during
    // the guard's or the cursor's awaits.
    const feed = app.app.get(RevocationFeed);
    const original = feed.stream;
    let entered = 0;
    feed.stream = async function (this: RevocationFeed, ...args: Parameters<RevocationFeed['stream']>) {
      const socket = args[2].raw.socket;
      if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
      entered++;
      return original.apply(this, args);
    };
    const url = new URL(app.url);
    try {
      for (let i = 0; i < 30; i++) {
        await new Promise<void>((resolve) => {
          const socket = connect(Number(url.port), url.hostname, () => {
            socket.write(`GET /auth/revocations HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\nAuthorization: ${rs.basic}\r\n\r\n`);
            socket.resetAndDestroy();
            resolve();
          });
          socket.on('error', () => resolve());
        });
      }
      await eventually(async () => entered === 30, 5000);
    } finally {
      feed.stream = original;
    }
    const openStreams = app.app.get(OpenStreams);
    await eventually(async () => openStreams.size === 0, 5000);
    const again = [openStream(app.url, rs.basic), openStream(app.url, rs.basic), openStream(app.url, rs.basic)];
    streams.push(...again);
    await eventually(async () => again.every((s) => s.state.status !== 0), 5000);
    assert.deepEqual(
      again.map((s) => s.state.status),
      [200, 200, 200],
      'STREAMS_PER_CLIENT=3 streams open again',
    );
    for (const s of again) s.close();
  });
});
