import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { freshDatabase, REDIS_URL, startApp, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { needs, redisAnswers } from '../support/services';
import { Http, PASSWORD, Reply, login, register, uniqueEmail } from '../support/http';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';

interface AuditRow {
  user_id: string | null;
  ip: string | null;
  details: string | null;
}

async function rateLimitedEvents(app: TestApp, kind: 'ip' | 'email'): Promise<AuditRow[]> {
  const rows = await app.database.rows<AuditRow>("SELECT user_id, ip, details FROM audit_events WHERE type = 'rate_limited'", []);
  return rows.filter((r) => JSON.parse(r.details ?? '{}').kind === kind);
}

function assertTooMany(r: Reply, maxRetryAfter: number, label = ''): void {
  assert.equal(r.status, 429, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'message', 'statusCode'], label);
  assert.equal(r.body.statusCode, 429, label);
  assert.equal(r.body.error, 'too_many_requests', label);
  assert.equal(typeof r.body.message, 'string', label);
  const retryAfter = r.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^\d+$/, `${label}: Retry-After is delta-seconds`);
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= maxRetryAfter, `${label}: Retry-After ${retryAfter} within 1..${maxRetryAfter}`);
}

/** What a client can observe of an answer, minus what differs on every request anyway. */
function observable(r: Reply): { status: number; body: unknown; headers: Array<[string, string]> } {
  const varying = new Set(['date', 'x-request-id', 'connection', 'keep-alive']);
  const headers: Array<[string, string]> = [];
  r.headers.forEach((value, name) => {
    if (!varying.has(name)) headers.push([name, value]);
  });
  return { status: r.status, body: r.body, headers: headers.sort() };
}

describe(`AUTH_RATE_LIMIT per client IP [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startApp({ AUTH_RATE_LIMIT: '5/1m', LOGIN_LOCKOUT: 'off' });
    http = new Http(app.url);
  });
  after(async () => app.close());

  it('counts login and register together, successful ones too, and answers 429 with Retry-After past the limit', async () => {
    const email = uniqueEmail('ip');
    assert.equal((await http.post('/auth/register', { email, password: PASSWORD })).status, 201); // 1
    assert.equal((await http.post('/auth/login', { email, password: PASSWORD })).status, 200); // 2
    assert.equal((await http.post('/auth/login', { email, password: 'wrong password' })).status, 401); // 3
    assert.equal((await http.post('/auth/register', { email: uniqueEmail('ip'), password: PASSWORD })).status, 201); // 4
    // An invalid body counts as an attempt as well: the limit applies before validation.
    assert.equal((await http.post('/auth/register', { email: 'not an e-mail', password: PASSWORD })).status, 400); // 5
    const users = await app.database.rows<{ n: number }>('SELECT COUNT(*) AS n FROM users', []);

    assertTooMany(await http.post('/auth/login', { email, password: PASSWORD }), 60, 'login 6');
    assertTooMany(await http.post('/auth/register', { email: uniqueEmail('ip'), password: PASSWORD }), 60, 'register 7');
    assertTooMany(await http.post('/auth/login', { email, password: 'wrong password' }), 60, 'login 8');
    const after = await app.database.rows<{ n: number }>('SELECT COUNT(*) AS n FROM users', []);
    assert.equal(Number(after[0].n), Number(users[0].n), 'a refused register creates nothing');

    // One audit event for the window, not one per refusal.
    const events = await rateLimitedEvents(app, 'ip');
    assert.equal(events.length, 1);
    assert.equal(events[0].user_id, null);
    assert.equal(events[0].ip, '127.0.0.1');
  });

  it('does not limit the other routes', async () => {
    assert.equal((await http.get('/health')).status, 200);
    assert.equal((await http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: 'x' }, { form: true })).status, 400);
    assert.equal((await http.get('/.well-known/jwks.json')).status, 200);
  });
});

describe(`AUTH_RATE_LIMIT on the account-recovery routes [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startApp({ AUTH_RATE_LIMIT: '3/1m', LOGIN_LOCKOUT: 'off' });
    http = new Http(app.url);
  });
  after(async () => app.close());

  it('counts "forgot password" with login and register, and a refused request queues no mail', async () => {
    const outbox = async () => Number((await app.database.rows<{ n: number }>('SELECT COUNT(*) AS n FROM mail_outbox', []))[0].n);
    for (let i = 0; i < 3; i++) assert.equal((await http.post('/auth/password/forgot', { email: uniqueEmail('forgot') })).status, 202);
    const queued = await outbox();
    assertTooMany(await http.post('/auth/password/forgot', { email: uniqueEmail('forgot') }), 60, 'forgot 4');
    assertTooMany(await http.post('/auth/login', { email: uniqueEmail('forgot'), password: PASSWORD }), 60, 'login 5');
    assertTooMany(await http.post('/auth/password/reset', { token: 'x', newPassword: 'a new password' }), 60, 'reset 6');
    assert.equal(await outbox(), queued);
  });
});

describe(`AUTH_RATE_LIMIT on the e-mail change [${TEST_DB}]`, () => {
  it('counts POST /me/email with login and register (it checks a password and mails any address), and a refused request queues no mail', async () => {
    const app = await startApp({ AUTH_RATE_LIMIT: '3/1m', LOGIN_LOCKOUT: 'off' });
    try {
      const http = new Http(app.url);
      const outbox = async () => Number((await app.database.rows<{ n: number }>("SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'email_change'", []))[0].n);
      const user = await register(http);
      const tokens = await login(http, user.email);
      assert.equal((await http.post('/me/email', { newEmail: uniqueEmail('moved'), password: PASSWORD }, { token: tokens.access_token })).status, 202);
      assertTooMany(
        await http.post('/me/email', { newEmail: uniqueEmail('moved'), password: PASSWORD }, { token: tokens.access_token }),
        60,
        'e-mail change 4',
      );
      assert.equal(await outbox(), 1);
    } finally {
      await app.close();
    }
  });
});

describe(`AUTH_RATE_LIMIT and TRUST_PROXY [${TEST_DB}]`, () => {
  it('ignores X-Forwarded-For without TRUST_PROXY', async () => {
    const app = await startApp({ AUTH_RATE_LIMIT: '3/1m', LOGIN_LOCKOUT: 'off', TRUST_PROXY: 'false' });
    try {
      const http = new Http(app.url);
      for (let i = 0; i < 3; i++) {
        const r = await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, { headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } });
        assert.equal(r.status, 401);
      }
      const r = await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, { headers: { 'x-forwarded-for': '203.0.113.99' } });
      assertTooMany(r, 60, 'a fresh X-Forwarded-For does not buy a fresh allowance');
      const events = await rateLimitedEvents(app, 'ip');
      assert.equal(events.length, 1);
      assert.equal(events[0].ip, '127.0.0.1', 'the socket address is the client');
    } finally {
      await app.close();
    }
  });

  it('limits per X-Forwarded-For client with TRUST_PROXY=true', async () => {
    const app = await startApp({ AUTH_RATE_LIMIT: '3/1m', LOGIN_LOCKOUT: 'off', TRUST_PROXY: 'true' });
    try {
      const http = new Http(app.url);
      const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
      for (let i = 0; i < 3; i++) assert.equal((await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('203.0.113.7'))).status, 401);
      assertTooMany(await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('203.0.113.7')), 60, 'fourth from .7');
      // Another client behind the same proxy has its own allowance.
      assert.equal((await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('203.0.113.8'))).status, 401);
      assert.equal((await http.post('/auth/register', { email: uniqueEmail(), password: PASSWORD }, from('198.51.100.1, 10.0.0.1'))).status, 201);
      const events = await rateLimitedEvents(app, 'ip');
      assert.equal(events.length, 1);
      assert.equal(events[0].ip, '203.0.113.7', 'the forwarded address is the client');
    } finally {
      await app.close();
    }
  });
});

describe(`TRUST_PROXY believes only the proxies it names [${TEST_DB}]`, () => {
  it('TRUST_PROXY=true is one hop: 25 failed logins with a forged, rotating first X-Forwarded-For entry still hit the limit', async () => {
    const app = await startApp({ AUTH_RATE_LIMIT: '20/1m', LOGIN_LOCKOUT: 'off', TRUST_PROXY: 'true' });
    try {
      const http = new Http(app.url);
      const statuses: number[] = [];
      // What an attacker behind one honest proxy sends: its own entry first, the proxy appends the real address.
      for (let i = 0; i < 25; i++)
        statuses.push(
          (await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, { headers: { 'x-forwarded-for': `10.${i}.${i}.${i}, 198.51.100.77` } }))
            .status,
        );
      assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401));
      assert.deepEqual(statuses.slice(20), Array(5).fill(429), 'the forged entries buy nothing');
      const events = await rateLimitedEvents(app, 'ip');
      assert.deepEqual(
        events.map((e) => e.ip),
        ['198.51.100.77'],
        'the address recorded is the one the proxy saw',
      );
      const [session] = await app.database.rows<{ ip: string }>('SELECT ip FROM audit_events WHERE type = ? ORDER BY id LIMIT 1', ['login_failed']);
      assert.equal(session.ip, '198.51.100.77', 'and so is the address on every event');
    } finally {
      await app.close();
    }
  });

  it('TRUST_PROXY as a CIDR list believes X-Forwarded-For only from those proxies', async () => {
    const app = await startApp({ AUTH_RATE_LIMIT: '2/1m', LOGIN_LOCKOUT: 'off', TRUST_PROXY: '127.0.0.0/8,::1' });
    try {
      const http = new Http(app.url);
      const from = (xff: string) => ({ headers: { 'x-forwarded-for': xff } });
      for (let i = 0; i < 2; i++) assert.equal((await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('203.0.113.5'))).status, 401);
      assertTooMany(await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('203.0.113.5')), 60, 'third from .5');
      // The trusted proxy's hop and the next entry the client wrote: the first untrusted address counts.
      assertTooMany(
        await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('192.0.2.1, 203.0.113.5')),
        60,
        'a forged entry before the real one',
      );
      assert.equal(
        (await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('203.0.113.6'))).status,
        401,
        'another client has its own allowance',
      );
    } finally {
      await app.close();
    }
  });

  it('counts IPv6 clients per /64', async () => {
    const app = await startApp({ AUTH_RATE_LIMIT: '3/1m', LOGIN_LOCKOUT: 'off', TRUST_PROXY: '1' });
    try {
      const http = new Http(app.url);
      const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
      for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2:ffff::7', '2001:db8:1:2:abcd:ef01:2345:6789']) {
        assert.equal((await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from(ip))).status, 401);
      }
      assertTooMany(
        await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('2001:db8:1:2::dead:beef')),
        60,
        'a fourth address of the same /64',
      );
      assert.equal(
        (await http.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from('2001:db8:1:3::1'))).status,
        401,
        'the next /64 is another client',
      );
    } finally {
      await app.close();
    }
  });
});

describe(`LOGIN_LOCKOUT per e-mail [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startApp({ AUTH_RATE_LIMIT: 'off', LOGIN_LOCKOUT: '3/1m' });
    http = new Http(app.url);
  });
  after(async () => app.close());

  it('locks an address after its failures, without checking the password any more', async () => {
    const user = await register(http);
    for (let i = 0; i < 3; i++) assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401);
    assertTooMany(await http.post('/auth/login', { email: user.email, password: PASSWORD }), 60, 'the right password while locked');
    assertTooMany(await http.post('/auth/login', { email: `  ${user.email.toUpperCase()} `, password: PASSWORD }), 60, 'any spelling of the address');
    // Other addresses are not affected.
    const other = await register(http);
    assert.equal((await http.post('/auth/login', { email: other.email, password: PASSWORD })).status, 200);
    const events = (await rateLimitedEvents(app, 'email')).filter((e) => e.user_id === user.id);
    assert.equal(events.length, 1, 'one event per address and window');
  });

  it('counts the spellings of one address as one address', async () => {
    const user = await register(http);
    const spellings = [user.email, user.email.toUpperCase(), ` ${user.email} `];
    for (const email of spellings) assert.equal((await http.post('/auth/login', { email, password: 'wrong password' })).status, 401);
    assertTooMany(await http.post('/auth/login', { email: user.email, password: 'wrong password' }), 60, 'fourth');
  });

  it('no other spelling of a locked address reaches its account (no lockout bypass)', async () => {
    const user = await register(http);
    for (let i = 0; i < 3; i++) assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401);
    assertTooMany(await http.post('/auth/login', { email: user.email, password: PASSWORD }), 60, 'locked');
    const [local, domain] = user.email.split('@');
    // Invisible characters, an accent, a full-width letter: other addresses, so each is an unknown
    // account (401) even with the right password; none of them logs in past the lockout.
    for (const variant of [
      `${local[0]}\u200b${local.slice(1)}@${domain}`,
      `${local}\ufeff@${domain}`,
      `${local}@${domain.replace('e', 'é')}`,
      `${local}@${domain.replace('e', 'ｅ')}`,
    ]) {
      const r = await http.post('/auth/login', { email: variant, password: PASSWORD });
      assert.equal(r.status, 401, `${JSON.stringify(variant)}: ${r.status} ${r.text}`);
    }
  });

  it('answers an unknown address exactly like a known one, failure by failure', async () => {
    const known = await register(http);
    const unknown = uniqueEmail('nobody');
    const seen: Array<[ReturnType<typeof observable>, ReturnType<typeof observable>]> = [];
    // Interleaved, so both windows are the same age whenever Retry-After is computed.
    for (let i = 0; i < 5; i++) {
      const a = await http.post('/auth/login', { email: known.email, password: 'wrong password' });
      const b = await http.post('/auth/login', { email: unknown, password: 'wrong password' });
      seen.push([observable(a), observable(b)]);
    }
    // Retry-After counts down each address's own window, and the known one opened a login earlier:
    // the two may straddle a whole second, so they are compared to within one.
    const retryAfter = (o: ReturnType<typeof observable>) => o.headers.find(([k]) => k === 'retry-after')?.[1];
    const withoutRetryAfter = (o: ReturnType<typeof observable>) => ({ ...o, headers: o.headers.filter(([k]) => k !== 'retry-after') });
    for (const [i, [a, b]] of seen.entries()) {
      assert.deepEqual(withoutRetryAfter(b), withoutRetryAfter(a), `attempt ${i + 1}`);
      assert.equal(retryAfter(b) === undefined, retryAfter(a) === undefined, `attempt ${i + 1}: Retry-After on both or neither`);
      if (retryAfter(a) !== undefined)
        assert.ok(Math.abs(Number(retryAfter(a)) - Number(retryAfter(b))) <= 1, `attempt ${i + 1}: Retry-After ${retryAfter(a)} vs ${retryAfter(b)}`);
    }
    assert.deepEqual(
      seen.map(([a]) => a.status),
      [401, 401, 401, 429, 429],
    );
    assert.ok(seen[3][0].headers.some(([k]) => k === 'retry-after'));
    assert.ok(!seen[0][0].headers.some(([k]) => k === 'retry-after'), 'a plain failure carries no Retry-After');
    // Both are audited; the known address names its user.
    const events = await rateLimitedEvents(app, 'email');
    assert.ok(events.some((e) => e.user_id === known.id));
    assert.ok(events.some((e) => e.user_id === null));
  });

  it('a successful login resets the failures of its address', async () => {
    const user = await register(http);
    for (let i = 0; i < 2; i++) assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401);
    await login(http, user.email);
    for (let i = 0; i < 3; i++)
      assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401, `failure ${i + 1} after the reset`);
    assertTooMany(await http.post('/auth/login', { email: user.email, password: PASSWORD }), 60, 'fourth failure after the reset');
  });

  it('concurrent guesses cannot overrun the limit', async () => {
    const user = await register(http);
    const answers = await Promise.all(Array.from({ length: 12 }, () => http.post('/auth/login', { email: user.email, password: 'wrong password' })));
    const statuses = answers.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 401).length, 3, `at most three passwords were checked: ${statuses}`);
    assert.equal(statuses.filter((s) => s === 429).length, 9);
    const failed = await app.database.rows<{ n: number }>("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'login_failed' AND user_id = ?", [user.id]);
    assert.equal(Number(failed[0].n), 3);
  });
});

describe(`LOGIN_LOCKOUT window [${TEST_DB}]`, () => {
  it('lets the address in again once the window has passed', async () => {
    const clock = new ShiftedClock();
    const app = await startApp({ AUTH_RATE_LIMIT: 'off', LOGIN_LOCKOUT: '2/5s' }, undefined, [{ provide: Clock, useValue: clock }]);
    try {
      const http = new Http(app.url);
      const user = await register(http);
      for (let i = 0; i < 2; i++) assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401);
      const locked = await http.post('/auth/login', { email: user.email, password: PASSWORD });
      assertTooMany(locked, 5, 'locked');
      clock.advance(Number(locked.headers.get('retry-after')) * 1000 + 200);
      assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 200);
    } finally {
      await app.close();
    }
  });
});

describe(`rate limits without Redis are per instance [${TEST_DB}]`, () => {
  it('two instances count separately', async () => {
    const db = freshDatabase();
    const a = await startApp({ AUTH_RATE_LIMIT: '2/1m', LOGIN_LOCKOUT: 'off' }, db);
    const b = await startApp({ AUTH_RATE_LIMIT: '2/1m', LOGIN_LOCKOUT: 'off' }, db);
    try {
      const ha = new Http(a.url);
      const hb = new Http(b.url);
      for (let i = 0; i < 2; i++) assert.equal((await ha.post('/auth/login', { email: uniqueEmail(), password: PASSWORD })).status, 401);
      assertTooMany(await ha.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }), 60, 'a is spent');
      assert.equal((await hb.post('/auth/login', { email: uniqueEmail(), password: PASSWORD })).status, 401, 'b has its own counter');
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
});

describe(`rate limits when Redis is unreachable [${TEST_DB}]`, () => {
  it('fall back to counting per instance instead of failing open or failing logins', async () => {
    // Nothing listens on port 9 (discard) here: every Redis command fails at once.
    const app = await startApp({ REDIS_URL: 'redis://127.0.0.1:9', AUTH_RATE_LIMIT: '3/1m', LOGIN_LOCKOUT: '2/1m' });
    try {
      const http = new Http(app.url);
      const user = await register(http); // 1
      assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401); // 2
      assert.equal((await http.post('/auth/login', { email: user.email, password: 'wrong password' })).status, 401); // 3
      assertTooMany(await http.post('/auth/login', { email: user.email, password: PASSWORD }), 60, 'the IP limit still holds');
    } finally {
      await app.close();
    }
  });
});

describe(`rate limits shared through Redis [${TEST_DB}]`, async () => {
  const skip = needs(`Redis at ${REDIS_URL}`, await redisAnswers(), 'REQUIRE_REDIS');
  const prefix = `lktest:${process.pid}:${randomBytes(6).toString('hex')}:`;
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let ha: Http;
  let hb: Http;
  let redis: Redis;

  before(async () => {
    if (skip) return;
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    db = freshDatabase();
    const env = { REDIS_URL, REDIS_KEY_PREFIX: prefix, AUTH_RATE_LIMIT: '4/1m', LOGIN_LOCKOUT: '3/1m', TRUST_PROXY: 'true' };
    a = await startApp(env, db);
    b = await startApp(env, db);
    ha = new Http(a.url);
    hb = new Http(b.url);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    if (!redis) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

  it('one IP allowance across both instances', { skip }, async () => {
    const ip = '192.0.2.10';
    assert.equal((await ha.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from(ip))).status, 401);
    assert.equal((await hb.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from(ip))).status, 401);
    assert.equal((await ha.post('/auth/register', { email: uniqueEmail(), password: PASSWORD }, from(ip))).status, 201);
    assert.equal((await hb.post('/auth/register', { email: uniqueEmail(), password: PASSWORD }, from(ip))).status, 201);
    assertTooMany(await ha.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from(ip)), 60, 'fifth, on a');
    assertTooMany(await hb.post('/auth/login', { email: uniqueEmail(), password: PASSWORD }, from(ip)), 60, 'sixth, on b');
    // Exactly one of the instances recorded the first refusal.
    assert.equal((await rateLimitedEvents(a, 'ip')).filter((e) => e.ip === ip).length, 1);
    const keys = await redis.keys(`${prefix}rl:ip:*`);
    assert.ok(keys.length >= 1, 'the counter lives in Redis under the configured prefix');
    const ttl = await redis.pttl(keys[0]);
    assert.ok(ttl > 0 && ttl <= 60_000, `the counter expires with its window (${ttl} ms)`);
  });

  it('one lockout per address across both instances, and a success on either resets it', { skip }, async () => {
    // A new client address per request, so only the lockout is in play.
    let n = 0;
    const anyIp = () => from(`198.51.100.${++n}`);
    const user = await register(ha, uniqueEmail(), PASSWORD);
    assert.equal((await ha.post('/auth/login', { email: user.email, password: 'wrong password' }, anyIp())).status, 401);
    assert.equal((await hb.post('/auth/login', { email: user.email, password: 'wrong password' }, anyIp())).status, 401);
    assert.equal((await hb.post('/auth/login', { email: user.email, password: PASSWORD }, anyIp())).status, 200, 'success on b');
    for (let i = 0; i < 3; i++) {
      const http = i % 2 ? hb : ha;
      assert.equal(
        (await http.post('/auth/login', { email: user.email, password: 'wrong password' }, anyIp())).status,
        401,
        `failure ${i + 1} after the reset`,
      );
    }
    assertTooMany(await hb.post('/auth/login', { email: user.email, password: PASSWORD }, anyIp()), 60, 'locked on b');
    assertTooMany(await ha.post('/auth/login', { email: user.email, password: PASSWORD }, anyIp()), 60, 'locked on a');
    const keys = await redis.keys(`${prefix}rl:email:*`);
    assert.ok(keys.length >= 1);
    assert.ok(
      keys.every((k) => !k.includes('@')),
      'no e-mail address in Redis keys',
    );
  });
});
