import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshDatabase, REDIS_URL, TestDatabase, TEST_DB } from '../support/app';
import { freePort } from '../support/faults';
import { ProcessClock } from '../support/clock';
import { Http, PASSWORD, Tokens, eventually, login, refresh, register, uniqueEmail } from '../support/http';
import { ServiceProcess, atResourceServer, latchkeyProcess, logsOf, resourceServerProcess, withTwoInstancesAndResourceServer } from '../support/processes';
import { addResourceServer } from '../support/resource-servers';
import { needs, redisAnswers } from '../support/services';

const ADMIN_EMAIL = 'rs-processes-admin@example.com';
const ADMIN_PASSWORD = 'resource processes admin';
/** Bounds for "the resource server refuses it": generous, and never asserted as a timing. */
const REFUSED_WITHIN_MS = 15_000;

async function refusedAt(rs: ServiceProcess, t: { access_token: string }, label: string, alsoLog: ServiceProcess[] = []): Promise<void> {
  try {
    await eventually(async () => (await atResourceServer(rs, t.access_token)) === 401, REFUSED_WITHIN_MS, 20);
  } catch {
    assert.fail(`${label}: the resource server still accepts the revoked session's access token\n${logsOf([rs, ...alsoLog])}`);
  }
}

describe(`a revoked session stops working at a resource server, on every revocation path [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let latchkey: ServiceProcess;
  let rs: ServiceProcess;
  let http: Http;
  let admin: Tokens;
  const clock = new ProcessClock();

  before(async () => {
    db = freshDatabase();
    latchkey = await (await latchkeyProcess(db, { ADMIN_EMAIL, ADMIN_PASSWORD, MAX_SESSIONS_PER_USER: '3', REFRESH_REUSE_GRACE: '1s', ...clock.env })).start();
    http = new Http(latchkey.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    rs = await (await resourceServerProcess(latchkey.url, await addResourceServer(http, admin.access_token))).start();
  });
  after(async () => {
    await rs?.stop();
    await latchkey?.stop();
    await db?.drop();
  });

  /** A user signed in on `n` devices, each accepted by the resource server. */
  async function userOn(n: number): Promise<{ user: { id: string; email: string }; devices: Tokens[] }> {
    const user = await register(http, uniqueEmail('rs-path'));
    const devices: Tokens[] = [];
    for (let i = 0; i < n; i++) devices.push(await login(http, user.email, PASSWORD, { deviceId: `rs-path-${user.id}-${i}` }));
    for (const d of devices) assert.equal(await atResourceServer(rs, d.access_token), 200, 'accepted before the revocation');
    return { user, devices };
  }

  it('logout (local)', async () => {
    const { devices } = await userOn(1);
    await http.post('/auth/logout', undefined, { token: devices[0].access_token });
    await refusedAt(rs, devices[0], 'logout local');
  });

  it('logout (others): the others are refused, the caller is not', async () => {
    const { devices } = await userOn(2);
    await http.post('/auth/logout?scope=others', undefined, { token: devices[1].access_token });
    await refusedAt(rs, devices[0], 'logout others');
    assert.equal(await atResourceServer(rs, devices[1].access_token), 200);
  });

  it('logout (global)', async () => {
    const { devices } = await userOn(2);
    await http.post('/auth/logout?scope=global', undefined, { token: devices[1].access_token });
    for (const d of devices) await refusedAt(rs, d, 'logout global');
  });

  it('signing out one device from another', async () => {
    const { devices } = await userOn(2);
    assert.equal((await http.delete(`/me/sessions/${devices[0].session_id}`, { token: devices[1].access_token })).status, 204);
    await refusedAt(rs, devices[0], 'device revoke');
  });

  it('an admin revoking one device, then all of them', async () => {
    const { user, devices } = await userOn(2);
    assert.equal((await http.delete(`/admin/sessions/${devices[0].session_id}`, { token: admin.access_token })).status, 204);
    await refusedAt(rs, devices[0], 'admin revoke one');
    assert.equal(await atResourceServer(rs, devices[1].access_token), 200);
    assert.equal((await http.delete(`/admin/users/${user.id}/sessions`, { token: admin.access_token })).status, 200);
    await refusedAt(rs, devices[1], 'admin revoke all');
  });

  it("a password change: every other device, and the caller's old token", async () => {
    const { devices } = await userOn(2);
    const changed = await http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'another long password' }, { token: devices[1].access_token });
    assert.equal(changed.status, 200);
    for (const d of devices) await refusedAt(rs, d, 'password change');
    assert.equal(await atResourceServer(rs, changed.body.access_token), 200, 'the new token works');
  });

  it('an admin disabling the account', async () => {
    const { user, devices } = await userOn(1);
    assert.equal((await http.post(`/admin/users/${user.id}/disable`, undefined, { token: admin.access_token })).status, 200);
    await refusedAt(rs, devices[0], 'disable');
  });

  it('theft detection: a replayed refresh token', async () => {
    const { devices } = await userOn(1);
    const rotated = await refresh(http, devices[0].refresh_token);
    assert.equal(rotated.status, 200);
    clock.advance(1100); // past REFRESH_REUSE_GRACE, in the latchkey process
    assert.equal((await refresh(http, devices[0].refresh_token)).body.error, 'invalid_grant');
    await refusedAt(rs, devices[0], 'theft, the old access token');
    await refusedAt(rs, rotated.body, "theft, the thief's or victim's newest access token");
  });

  it('the session limit: the least recently used session goes', async () => {
    const { user, devices } = await userOn(3);
    await login(http, user.email, PASSWORD, { deviceId: `rs-path-${user.id}-fourth` });
    await refusedAt(rs, devices[0], 'session limit');
  });

  it('a device signing in again replaces its own session', async () => {
    const { user, devices } = await userOn(1);
    const again = await login(http, user.email, PASSWORD, { deviceId: `rs-path-${user.id}-0` });
    await refusedAt(rs, devices[0], 'device relogin');
    assert.equal(await atResourceServer(rs, again.access_token), 200);
  });

  it('meanwhile, tokens of untouched sessions keep working', async () => {
    const { devices } = await userOn(1);
    assert.equal(await atResourceServer(rs, devices[0].access_token), 200);
    assert.equal((await fetch(`${rs.url}/orders`)).status, 401, 'and no token is no entry');
  });
});

describe(`two latchkey instances: a revocation on A reaches a resource server following B [${TEST_DB}]`, async () => {
  const redisSkip = needs(`Redis at ${REDIS_URL}`, await redisAnswers(), 'REQUIRE_REDIS');

  for (const mode of ['polling only', 'with Redis'] as const) {
    it(mode, { skip: mode === 'with Redis' && redisSkip }, async () => {
      // One issuer (the address clients use, here B's); A and B share the database and keys.
      await withTwoInstancesAndResourceServer(mode, { ADMIN_EMAIL, ADMIN_PASSWORD }, async ({ a, b, rs, httpA }) => {
        const user = await register(httpA);
        for (let i = 0; i < 5; i++) {
          const t = await login(httpA, user.email, PASSWORD, { deviceId: `two-instances-${i}` });
          assert.equal(await atResourceServer(rs, t.access_token), 200);
          await httpA.post('/auth/logout', undefined, { token: t.access_token });
          await refusedAt(rs, t, `revocation ${i} on A, verifier on B (${mode})`, [a, b]);
        }
      });
    });
  }
});

describe(`feed outages and restarts [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let a: ServiceProcess;
  let b: ServiceProcess;
  let httpB: Http;
  let credentials: { clientId: string; clientSecret: string };

  before(async () => {
    db = freshDatabase();
    const portA = await freePort();
    // Hundreds of devices of one user, all alive at once.
    const env = { ADMIN_EMAIL, ADMIN_PASSWORD, JWT_ISSUER: `http://127.0.0.1:${portA}`, MAX_SESSIONS_PER_USER: '1000' };
    a = await (await latchkeyProcess(db, env, portA)).start();
    b = await (await latchkeyProcess(db, env)).start();
    httpB = new Http(b.url);
    credentials = await addResourceServer(httpB, (await login(httpB, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await db?.drop();
  });

  beforeEach(async () => {
    if (!a.running) await a.start();
  });

  it('resumes from its cursor after latchkey restarts, and loses none of the hundreds of revocations made meanwhile', async () => {
    const rs = await (await resourceServerProcess(a.url, credentials, { MAX_STALENESS_MS: '600000' })).start();
    try {
      const user = await register(httpB);
      const sessions: Tokens[] = [];
      for (let i = 0; i < 300; i++) sessions.push(await login(httpB, user.email, PASSWORD, { deviceId: `outage-${i}-device` }));
      assert.equal(await atResourceServer(rs, sessions[299].access_token), 200);
      await a.stop(); // the instance the resource server follows goes away…
      for (const s of sessions) assert.equal((await httpB.post('/auth/logout', undefined, { token: s.access_token })).status, 204); // …while B revokes all 300
      await a.start(); // …and comes back on the same address
      const accepted: number[] = [];
      await eventually(
        async () => {
          accepted.length = 0;
          for (const [i, s] of sessions.entries()) if ((await atResourceServer(rs, s.access_token)) !== 401) accepted.push(i);
          return accepted.length === 0;
        },
        30_000,
        200,
      ).catch(() => assert.fail(`still accepted after the restart: sessions ${accepted.join(', ')}`));
    } finally {
      await rs.stop();
    }
  });

  it('fails closed once the feed has been unreachable past maxStaleness, and recovers when it is back', async () => {
    const rs = await (await resourceServerProcess(a.url, credentials, { MAX_STALENESS_MS: '3000' })).start();
    try {
      const user = await register(httpB);
      const t = await login(httpB, user.email);
      assert.equal(await atResourceServer(rs, t.access_token), 200);
      await a.stop();
      const stale = await eventually(async () => (await atResourceServer(rs, t.access_token)) === 503, 30_000, 100).then(() =>
        fetch(`${rs.url}/orders`, { headers: { authorization: `Bearer ${t.access_token}` } }),
      );
      const body = await stale.json();
      assert.equal(body.error, 'service_unavailable', 'a stale feed is not a bad token');
      assert.equal((await fetch(`${rs.url}/health`)).status, 503, 'and the health endpoint says so');
      await a.start();
      await eventually(async () => (await atResourceServer(rs, t.access_token)) === 200, 30_000, 100);
      assert.equal((await fetch(`${rs.url}/health`)).status, 200);
    } finally {
      await rs.stop();
    }
  });
});
