/**
 * latchkey on a multi-primary MariaDB Galera cluster (issue 14): instance A on node 1, instance
 * B on node 2, one database. Galera answers reads from whatever the node has applied
 * (wsrep_sync_wait=0) and settles write conflicts between nodes at COMMIT (certification,
 * ER_LOCK_DEADLOCK 1213), so a client that moves between instances must see neither false
 * logouts (invalid_grant) nor 5xx.
 *
 * The cluster comes from `scripts/galera.sh start` (127.0.0.1:3311-3313, GALERA_SQL_PORT moves
 * it), with wsrep_retry_autocommit=0 so that latchkey's own retry is what is tested. Without a
 * cluster the suite is skipped, visibly; under REQUIRE_GALERA=1 it fails instead.
 *
 * Sizes (each case prints its counts): GALERA_ROUNDS alternating refreshes (a),
 * GALERA_LOGINS login-then-refresh pairs (b), GALERA_RACES rounds of each concurrent
 * one-user race (c), GALERA_STORM_ROUNDS same-token-on-both-nodes refreshes (d),
 * GALERA_SIGNUPS register-then-login pairs (e).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { startApp, TestApp, TestDatabase } from '../support/app';
import { Http } from '../support/http';

const HOST = '127.0.0.1';
const PORT_A = Number(process.env.GALERA_SQL_PORT ?? 3311);
const PORT_B = PORT_A + 1;
const PORT_OBSERVER = PORT_A + 2;
const REQUIRED = process.env.REQUIRE_GALERA === '1';

function count(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${raw}`);
  return n;
}
const ROUNDS = count('GALERA_ROUNDS', 8000);
const LOGINS = count('GALERA_LOGINS', 800);
const RACES = count('GALERA_RACES', 15);
const STORM_ROUNDS = count('GALERA_STORM_ROUNDS', 1000);
const SIGNUPS = count('GALERA_SIGNUPS', 150);

const PASSWORD = 'correct horse battery';
const ADMIN_EMAIL = 'galera-admin@example.com';
const ADMIN_PASSWORD = 'galera admin password';
const MAX_SESSIONS = 3;

type Mysql = typeof import('mysql2/promise');
const mysql = (): Promise<Mysql> => import('mysql2/promise');

async function connect(port: number) {
  return (await mysql()).createConnection({ host: HOST, port, user: 'root', connectTimeout: 3000 });
}

/** The server speaks first: a MySQL protocol v10 greeting whose version names MariaDB. */
function greeting(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    const done = (version: string | null) => {
      socket.destroy();
      resolve(version);
    };
    socket.setTimeout(2000, () => done(null));
    socket.once('error', () => done(null));
    socket.once('data', (packet: Buffer) => {
      if (packet.length < 6 || packet[4] !== 10) return done(null);
      const end = packet.indexOf(0, 5);
      done(packet.subarray(5, end < 0 ? undefined : end).toString('latin1'));
    });
  });
}

async function wsrepStatus(port: number): Promise<Record<string, string>> {
  const conn = await connect(port);
  try {
    const [rows] = await conn.query(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_local_cert_failures','wsrep_local_bf_aborts')",
    );
    const out: Record<string, string> = {};
    for (const r of rows as Array<{ Variable_name: string; Value: string }>) out[r.Variable_name] = r.Value;
    const [vars] = await conn.query('SELECT @@wsrep_on AS wsrep_on, @@wsrep_retry_autocommit AS retry_autocommit, @@wsrep_sync_wait AS sync_wait');
    for (const [k, v] of Object.entries((vars as Array<Record<string, unknown>>)[0])) out[k] = String(v);
    return out;
  } finally {
    await conn.end();
  }
}

type Probe = { ok: true; note: string } | { ok: false; reason: string };

async function probeCluster(): Promise<Probe> {
  const notes: string[] = [];
  for (const port of [PORT_A, PORT_B]) {
    const version = await greeting(port);
    if (!version) return { ok: false, reason: `no MariaDB answers at ${HOST}:${port}` };
    let status: Record<string, string>;
    try {
      status = await wsrepStatus(port);
    } catch (error) {
      return { ok: false, reason: `${HOST}:${port} (${version}) refuses root without a password: ${(error as Error).message}` };
    }
    if (status.wsrep_on !== '1' || status.wsrep_cluster_size !== '3') {
      return {
        ok: false,
        reason: `${HOST}:${port} is not a node of a 3-node Galera cluster (wsrep_on=${status.wsrep_on}, wsrep_cluster_size=${status.wsrep_cluster_size ?? '-'})`,
      };
    }
    if (status.wsrep_local_state_comment !== 'Synced') return { ok: false, reason: `${HOST}:${port} is ${status.wsrep_local_state_comment}, not Synced` };
    notes.push(`${port}: ${version}, retry_autocommit=${status.retry_autocommit}, sync_wait=${status.sync_wait}`);
  }
  return { ok: true, note: notes.join('; ') };
}

/** Certification failures and brute-force aborts, summed over nodes 1 and 2. */
async function conflicts(): Promise<{ cert: number; bf: number }> {
  let cert = 0;
  let bf = 0;
  for (const port of [PORT_A, PORT_B]) {
    const s = await wsrepStatus(port);
    cert += Number(s.wsrep_local_cert_failures);
    bf += Number(s.wsrep_local_bf_aborts);
  }
  return { cert, bf };
}

/** Non-200 answers, by status and error code, with a few bodies to read. */
class Tally {
  total = 0;
  invalidGrant = 0;
  serverErrors = 0;
  readonly other = new Map<string, number>();
  readonly samples: string[] = [];

  add(where: string, reply: { status: number; body?: any; text: string }, expected = 200): boolean {
    this.total++;
    if (reply.status === expected) return true;
    const code = reply.body?.error ?? '?';
    if (reply.status >= 500) this.serverErrors++;
    else if (code === 'invalid_grant') this.invalidGrant++;
    const key = `${reply.status} ${code}`;
    this.other.set(key, (this.other.get(key) ?? 0) + 1);
    if (this.samples.length < 5) this.samples.push(`${where}: ${reply.status} ${reply.text.slice(0, 160)}`);
    return false;
  }

  get failures(): number {
    return [...this.other.values()].reduce((a, b) => a + b, 0);
  }

  report(label: string, extra = ''): string {
    const kinds = [...this.other].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
    const pct = this.total ? ((100 * this.failures) / this.total).toFixed(2) : '0';
    const line = `  ${label}: ${this.failures} of ${this.total} failed (${pct}%): ${kinds}${extra ? `; ${extra}` : ''}`;
    console.log(line + this.samples.map((s) => `\n    ${s}`).join(''));
    return line.trim();
  }
}

function uniqueEmail(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(5).toString('hex')}@example.com`;
}

async function register(http: Http, email: string, password = PASSWORD): Promise<string> {
  const r = await http.post('/auth/register', { email, password });
  assert.equal(r.status, 201, `register: ${r.status} ${r.text}`);
  return r.body.user.id;
}

function loginOn(http: Http, email: string, password = PASSWORD, deviceId?: string) {
  return http.post('/auth/login', { email, password, ...(deviceId ? { deviceId } : {}) });
}

function refreshOn(http: Http, token: string) {
  return http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: token }, { form: true });
}

async function mustLogin(http: Http, email: string, password = PASSWORD): Promise<{ access_token: string; refresh_token: string; user: { id: string } }> {
  const r = await loginOn(http, email, password);
  assert.equal(r.status, 200, `login: ${r.status} ${r.text}`);
  return r.body;
}

/**
 * Setup only: a login on one node right after the registration on another may not find the
 * user yet (case (e) counts that); here it is retried until it does, so that case (c)
 * measures the races and nothing else.
 */
async function loginWhenVisible(http: Http, email: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await loginOn(http, email);
    if (r.status === 200) return;
    assert.ok(r.status === 401 && attempt < 100, `login: ${r.status} ${r.text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe(`latchkey on a 3-node Galera cluster (A on :${PORT_A}, B on :${PORT_B})`, async () => {
  const probe = await probeCluster();
  if (!probe.ok) {
    const how = 'start one with: sudo scripts/galera.sh start';
    if (REQUIRED) {
      it('needs a Galera cluster (REQUIRE_GALERA=1)', () => assert.fail(`${probe.reason}; ${how}`));
    } else {
      console.log(`\n!!! SKIPPING the Galera suite: ${probe.reason}.\n!!! ${how}; REQUIRE_GALERA=1 makes this fatal.\n`);
      it('Galera suite', { skip: `${probe.reason} (${how}; REQUIRE_GALERA=1 makes this fatal)` }, () => undefined);
    }
    return;
  }
  console.log(`  cluster: ${probe.note}`);

  const name = `lk_galera_${process.pid}_${randomBytes(4).toString('hex')}`;
  const database: TestDatabase = {
    // What both instances share; DATABASE_URL is per instance (its own node).
    env: {
      REFRESH_TOKEN_KEYS: `t1:${randomBytes(32).toString('base64url')}`,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      MAX_SESSIONS_PER_USER: String(MAX_SESSIONS),
    },
    drop: async () => {
      const conn = await connect(PORT_A);
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await conn.end();
      }
    },
  };
  let a: TestApp;
  let b: TestApp;
  let httpA: Http;
  let httpB: Http;
  /** Node 3 with wsrep_sync_wait=1: a causal observer of the final state. */
  let observer: Awaited<ReturnType<typeof connect>>;

  before(async () => {
    // One after the other: A creates the database and runs the migrations, B finds them done.
    a = await startApp({ DATABASE_URL: `mysql://root@${HOST}:${PORT_A}/${name}`, ADMIN_EMAIL, ADMIN_PASSWORD }, database);
    b = await startApp({ DATABASE_URL: `mysql://root@${HOST}:${PORT_B}/${name}` }, database);
    httpA = new Http(a.url);
    httpB = new Http(b.url);
    observer = await connect(PORT_OBSERVER);
    await observer.query('SET SESSION wsrep_sync_wait = 1');
  });

  after(async () => {
    await observer?.end();
    await a?.close();
    await b?.close();
    await database.drop();
  });

  async function activeSessions(userId: string): Promise<number> {
    const [rows] = await observer.query(`SELECT COUNT(*) AS n FROM \`${name}\`.sessions WHERE user_id = ? AND revoked_at IS NULL`, [userId]);
    return Number((rows as Array<{ n: number }>)[0].n);
  }

  it(`(a) one chain refreshed alternately on B and A, ${ROUNDS} times: no false invalid_grant, no 5xx`, { timeout: 15 * 60_000 }, async () => {
    const email = uniqueEmail('alternate');
    await register(httpA, email);
    let token = (await mustLogin(httpA, email)).refresh_token;
    const tally = new Tally();
    const before = await conflicts();
    const started = performance.now();
    for (let i = 0; i < ROUNDS; i++) {
      const [here, there] = i % 2 === 0 ? [httpB, httpA] : [httpA, httpB];
      const r = await refreshOn(here, token);
      if (tally.add(i % 2 === 0 ? 'B' : 'A', r)) {
        token = r.body.refresh_token;
        continue;
      }
      // Carry the chain on so that one failure is counted once: the node that issued this
      // link has its row; a false answer changed nothing there.
      const again = await refreshOn(there, token);
      assert.equal(again.status, 200, `the chain died at round ${i}: ${again.status} ${again.text}`);
      token = again.body.refresh_token;
    }
    const after = await conflicts();
    const seconds = (performance.now() - started) / 1000;
    const line = tally.report(
      'alternating refresh',
      `${(ROUNDS / seconds).toFixed(0)}/s, cert failures +${after.cert - before.cert}, bf aborts +${after.bf - before.bf}`,
    );
    assert.equal(tally.invalidGrant, 0, `false logouts: ${line}`);
    assert.equal(tally.serverErrors, 0, `5xx: ${line}`);
    assert.equal(tally.failures, 0, line);
  });

  it(`(b) login on A, refresh at once on B, ${LOGINS} times: none fails`, { timeout: 15 * 60_000 }, async () => {
    const workers = 2;
    const emails = Array.from({ length: workers }, (_, w) => uniqueEmail(`login-then-refresh-${w}`));
    for (const email of emails) await register(httpA, email);
    const tally = new Tally();
    const before = await conflicts();
    let next = 0;
    await Promise.all(
      emails.map(async (email, w) => {
        const deviceId = `galera-device-${w}-${randomBytes(4).toString('hex')}`;
        while (next < LOGINS) {
          next++;
          // The same device each time: the previous session is replaced, the count stays at one.
          const login = await loginOn(httpA, email, PASSWORD, deviceId);
          assert.equal(login.status, 200, `login on A: ${login.status} ${login.text}`);
          tally.add('B after login on A', await refreshOn(httpB, login.body.refresh_token));
        }
      }),
    );
    const after = await conflicts();
    const line = tally.report('login on A, refresh on B', `cert failures +${after.cert - before.cert}, bf aborts +${after.bf - before.bf}`);
    assert.equal(tally.invalidGrant, 0, `false logouts: ${line}`);
    assert.equal(tally.serverErrors, 0, `5xx: ${line}`);
    assert.equal(tally.failures, 0, line);
  });

  it(
    `(c) one user, two nodes at once, ${RACES} rounds each: logins, password changes, disables; no 5xx, state consistent`,
    { timeout: 15 * 60_000 },
    async () => {
      const tally = new Tally();
      const problems: string[] = [];
      const before = await conflicts();
      const adminA = (await mustLogin(httpA, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token;
      const adminB = (await mustLogin(httpB, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token;

      // Logins: four at once, two per node, of one user with MAX_SESSIONS_PER_USER=3.
      const loginUser = uniqueEmail('race-login');
      const loginUserId = await register(httpA, loginUser);
      await loginWhenVisible(httpB, loginUser);
      for (let round = 0; round < RACES; round++) {
        const replies = await Promise.all([httpA, httpB, httpA, httpB].map((h) => loginOn(h, loginUser)));
        replies.forEach((r, i) => tally.add(`login ${i % 2 ? 'B' : 'A'}`, r));
        const active = await activeSessions(loginUserId);
        if (active > MAX_SESSIONS) problems.push(`logins round ${round}: ${active} active sessions > MAX_SESSIONS_PER_USER=${MAX_SESSIONS}`);
      }

      // Password changes: the user, signed in on both nodes, changes the password on both at once.
      for (let round = 0; round < RACES; round++) {
        const email = uniqueEmail('race-password');
        await register(httpA, email);
        await loginWhenVisible(httpB, email);
        const onA = await mustLogin(httpA, email);
        const onB = await mustLogin(httpB, email);
        const [pa, pb] = [`new password A ${round}`, `new password B ${round}`];
        const replies = await Promise.all([
          httpA.post('/me/password', { currentPassword: PASSWORD, newPassword: pa }, { token: onA.access_token }),
          httpB.post('/me/password', { currentPassword: PASSWORD, newPassword: pb }, { token: onB.access_token }),
        ]);
        // The loser is told its current password no longer matches (401), or its session is gone.
        replies.forEach((r, i) => tally.add(`password ${i ? 'B' : 'A'}`, r, r.status === 401 ? 401 : 200));
        const won = replies.map((r) => r.status === 200);
        if (won.filter(Boolean).length !== 1) problems.push(`password round ${round}: ${replies.map((r) => r.status).join('/')} (exactly one change must win)`);
        // Whichever won, its password works on both nodes and the other one nowhere.
        const winner = won[0] ? pa : won[1] ? pb : null;
        if (winner) {
          const loser = winner === pa ? pb : pa;
          for (const [h, label] of [
            [httpA, 'A'],
            [httpB, 'B'],
          ] as const) {
            const good = await loginOn(h, email, winner);
            if (good.status !== 200) problems.push(`password round ${round}: the winning password fails on ${label}: ${good.status}`);
            const bad = await loginOn(h, email, loser);
            if (bad.status === 200) problems.push(`password round ${round}: the losing password works on ${label}`);
            const old = await loginOn(h, email, PASSWORD);
            if (old.status === 200) problems.push(`password round ${round}: the old password still works on ${label}`);
          }
        }
      }

      // Disables: an admin disables the user on both nodes while the user logs in on both.
      for (let round = 0; round < RACES; round++) {
        const email = uniqueEmail('race-disable');
        const userId = await register(httpA, email);
        await loginWhenVisible(httpB, email);
        const replies = await Promise.all([
          httpA.post(`/admin/users/${userId}/disable`, undefined, { token: adminA }),
          httpB.post(`/admin/users/${userId}/disable`, undefined, { token: adminB }),
          loginOn(httpA, email),
          loginOn(httpB, email),
        ]);
        replies.slice(0, 2).forEach((r, i) => tally.add(`disable ${i ? 'B' : 'A'}`, r));
        replies.slice(2).forEach((r, i) => {
          // A login that lost to the disable is a 403; one that won is swept by it.
          tally.add(`login during disable ${i ? 'B' : 'A'}`, r, r.status === 403 ? 403 : 200);
        });
        const [rows] = await observer.query(`SELECT disabled_at FROM \`${name}\`.users WHERE id = ?`, [userId]);
        if ((rows as Array<{ disabled_at: unknown }>)[0]?.disabled_at == null) problems.push(`disable round ${round}: the user is not disabled`);
        const active = await activeSessions(userId);
        if (active !== 0) problems.push(`disable round ${round}: ${active} sessions survived the disable`);
      }

      const after = await conflicts();
      const line = tally.report('one-user races', `cert failures +${after.cert - before.cert}, bf aborts +${after.bf - before.bf}`);
      for (const p of problems) console.log(`    inconsistent: ${p}`);
      assert.equal(tally.serverErrors, 0, `5xx: ${line}`);
      assert.deepEqual(problems, [], 'the final state is inconsistent');
      assert.equal(tally.failures, 0, line);
    },
  );

  it(`(d) the same link on A and B at the same moment, ${STORM_ROUNDS} times: both get the next link, no 5xx`, { timeout: 15 * 60_000 }, async () => {
    const email = uniqueEmail('storm');
    await register(httpA, email);
    let token = (await mustLogin(httpA, email)).refresh_token;
    const tally = new Tally();
    const before = await conflicts();
    for (let i = 0; i < STORM_ROUNDS; i++) {
      const [ra, rb] = await Promise.all([refreshOn(httpA, token), refreshOn(httpB, token)]);
      const okA = tally.add('A', ra);
      const okB = tally.add('B', rb);
      // The loser of the race is inside the grace window: it gets the winner's next link.
      if (okA && okB && ra.body.refresh_token !== rb.body.refresh_token) assert.fail(`round ${i}: two different next links`);
      const next = okA ? ra : okB ? rb : null;
      if (next) {
        token = next.body.refresh_token;
        continue;
      }
      const again = await refreshOn(httpA, token);
      assert.equal(again.status, 200, `the chain died at round ${i}: ${again.status} ${again.text}`);
      token = again.body.refresh_token;
    }
    const after = await conflicts();
    const line = tally.report('same link on both nodes', `cert failures +${after.cert - before.cert}, bf aborts +${after.bf - before.bf}`);
    assert.equal(tally.serverErrors, 0, `5xx: ${line}`);
    assert.equal(tally.invalidGrant, 0, `false logouts: ${line}`);
    assert.equal(tally.failures, 0, line);
  });

  it(`(e) register on A, log in at once on B, ${SIGNUPS} times: none fails`, { timeout: 15 * 60_000 }, async () => {
    const tally = new Tally();
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < SIGNUPS) {
          next++;
          const email = uniqueEmail('signup');
          await register(httpA, email);
          tally.add('login on B after register on A', await loginOn(httpB, email));
        }
      }),
    );
    const line = tally.report('register on A, login on B');
    assert.equal(tally.serverErrors, 0, `5xx: ${line}`);
    assert.equal(tally.failures, 0, line);
  });
});
