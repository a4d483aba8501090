import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import { createServer, connect, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { freshDatabase, startApp, MYSQL_URL, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { Http, PASSWORD, Reply, Tokens, eventually, login, refresh, register, uniqueEmail } from '../support/http';

/** Generous bounds: these assert "answers, and does not hang", not a latency. */
const ANSWER_WITHIN_MS = 10_000;
const RECOVER_WITHIN_MS = 20_000;
const DB_TIMEOUT_MS = '1000';
const ADMIN = { email: 'faults-admin@example.com', password: 'faults admin password' };

/** better-sqlite3 ships no types here; this is the part the lock scenario uses. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database: new (file: string) => { exec(sql: string): void; close(): void } = require('better-sqlite3');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a request and fails the test if it does not answer within `ms`. */
async function within<T>(ms: number, label: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function assertUnavailable(r: Reply, label: string): void {
  assert.equal(r.status, 503, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'message', 'statusCode'], label);
  assert.equal(r.body.error, 'service_unavailable', label);
  assert.ok(r.headers.get('retry-after'), `${label}: Retry-After`);
}

/**
 * A TCP proxy between the app and MariaDB that the test can break in two ways:
 * `refuse` (nothing listens, live connections are cut: a stopped server) and `blackhole`
 * (connections are accepted and live ones kept open, but not a byte goes through: a
 * partition or a hung server). `restore` lets traffic through again on the same port.
 */
class FaultyProxy {
  private server?: Server;
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket }>();
  mode: 'pass' | 'refuse' | 'blackhole' = 'pass';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  private accept(client: Socket): void {
    const pair: { client: Socket; upstream?: Socket } = { client };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    if (this.mode === 'blackhole') return; // accepted, and then silence
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    // Forwarded by hand, so that a blackhole can silence a live connection too.
    client.on('data', (d) => this.mode === 'pass' && upstream.write(d));
    upstream.on('data', (d) => this.mode === 'pass' && client.write(d));
  }

  async cut(mode: 'refuse' | 'blackhole'): Promise<void> {
    this.mode = mode;
    if (mode === 'refuse') {
      for (const { client, upstream } of this.pairs) {
        client.destroy();
        upstream?.destroy();
      }
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
  }

  async restore(): Promise<void> {
    const wasRefusing = this.mode === 'refuse';
    // Connections that lived through a blackhole are out of step with the server: cut them,
    // as a real partition's timeouts eventually would.
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    this.mode = 'pass';
    if (wasRefusing) await this.start();
  }

  async stop(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    if (this.server?.listening) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

/** What a client holds for one signed-in device. */
interface Device {
  tokens: Tokens;
}

describe(`database outages [${TEST_DB}]`, () => {
  if (TEST_DB !== 'mysql') {
    process.stdout.write('# faults: the MariaDB outage scenarios run only with TEST_DB=mysql (SQLite is a file, not a network peer)\n');
    return;
  }

  const target = new URL(MYSQL_URL);
  let proxy: FaultyProxy;
  let db: TestDatabase;
  let app: TestApp;
  let http: Http;

  before(async () => {
    proxy = new FaultyProxy({ host: target.hostname, port: Number(target.port || 3306) });
    await proxy.start();
    db = freshDatabase();
    const name = new URL(db.env.DATABASE_URL).pathname;
    const viaProxy = `mysql://${target.username || 'root'}${target.password ? ':' + target.password : ''}@127.0.0.1:${proxy.port}${name}`;
    app = await startApp({ DATABASE_URL: viaProxy, DB_TIMEOUT_MS, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, REVOCATION_POLL_MS: '200' }, db);
    http = new Http(app.url);
  });
  after(async () => {
    await app?.close().catch(() => undefined);
    await proxy?.stop();
    await db?.drop();
  });

  for (const mode of ['refuse', 'blackhole'] as const) {
    it(`database ${mode === 'refuse' ? 'down (connections refused)' : 'blackholed (connections hang)'}: tokens still verify, the rest answers 503 in bounded time, then recovers`, async () => {
      const user = await register(http, uniqueEmail(`fault-${mode}`));
      const device = await login(http, user.email);
      const admin = await login(http, ADMIN.email, ADMIN.password);
      assert.equal((await http.get('/health/ready')).status, 200);

      await proxy.cut(mode);
      try {
        // Access tokens are verified with the key in memory and the revocation set in memory.
        for (let i = 0; i < 3; i++) {
          const session = await within(ANSWER_WITHIN_MS, '/auth/session', () => http.get('/auth/session', { token: device.access_token }));
          assert.equal(session.status, 200, `/auth/session while the database is ${mode}d: ${session.text}`);
          assert.equal(session.body.sessionId, device.session_id);
        }
        assert.equal((await within(ANSWER_WITHIN_MS, '/health', () => http.get('/health'))).status, 200);
        // Everything that needs the database says so, quickly and in the contract's shape.
        const checks: Array<[string, () => Promise<Reply>]> = [
          ['/health/ready', () => http.get('/health/ready')],
          ['login', () => http.post('/auth/login', { email: user.email, password: PASSWORD })],
          ['refresh', () => refresh(http, device.refresh_token)],
          ['register', () => http.post('/auth/register', { email: uniqueEmail('during-outage'), password: PASSWORD })],
          ['GET /me', () => http.get('/me', { token: device.access_token })],
          ['GET /admin/users', () => http.get('/admin/users', { token: admin.access_token })],
          ['POST /admin/users/:id/disable', () => http.post(`/admin/users/${user.id}/disable`, undefined, { token: admin.access_token })],
        ];
        // Twice: once while connections are being lost, once when the pool knows.
        for (let round = 0; round < 2; round++) {
          const answers = await Promise.all(checks.map(([label, run]) => within(ANSWER_WITHIN_MS, label, run)));
          answers.forEach((r, i) => assertUnavailable(r, `${checks[i][0]} (round ${round + 1}, ${mode})`));
        }
      } finally {
        await proxy.restore();
      }

      // The same process recovers without a restart.
      await eventually(async () => (await http.get('/health/ready')).status === 200, RECOVER_WITHIN_MS, 100);
      await eventually(async () => (await http.post('/auth/login', { email: user.email, password: PASSWORD })).status === 200, RECOVER_WITHIN_MS, 100);
      const rotated = await refresh(http, device.refresh_token);
      assert.equal(rotated.status, 200, `the chain survived the outage: ${rotated.text}`);
      assert.equal((await http.get('/me', { token: rotated.body.access_token })).status, 200);
      assert.equal((await http.get('/admin/users', { token: admin.access_token })).status, 200);
    });
  }

  it('a second instance pointed at a blackholed database exits in bounded time, and says why', async () => {
    await proxy.cut('blackhole');
    try {
      const name = new URL(db.env.DATABASE_URL).pathname;
      // The real entry point: Nest ends the process when a module cannot start.
      const proc = spawn(process.execPath, [join(__dirname, '../../src/main.js')], {
        env: { ...process.env, ...db.env, DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}${name}`, DB_TIMEOUT_MS, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'error' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      let code: number | null;
      try {
        code = await within(ANSWER_WITHIN_MS * 2, 'a start against a blackholed database', () => exited);
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      assert.notEqual(code, 0, 'it does not pretend to have started');
      assert.match(output, /ETIMEDOUT|timed? ?out/i, `the reason is in the log: ${output.slice(0, 500)}`);
      assert.doesNotMatch(output, new RegExp(db.env.REFRESH_TOKEN_KEYS.split(':')[1]), 'no secret in the log');
    } finally {
      await proxy.restore();
    }
  });
});

describe(`database locked by another process [${TEST_DB}]`, () => {
  if (TEST_DB !== 'sqlite') {
    process.stdout.write('# faults: the SQLite write-lock scenario runs only with TEST_DB=sqlite\n');
    return;
  }
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startApp({ DB_TIMEOUT_MS: '300' });
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('writes answer 503 in bounded time while another process holds the write lock; tokens still verify; then it recovers', async () => {
    const user = await register(http, uniqueEmail('locked'));
    const device = await login(http, user.email);
    const other = new Database(`${app.config.dataDir}/latchkey.sqlite`);
    // Another connection holds the write lock, as a backup or the CLI in another process would.
    other.exec('BEGIN IMMEDIATE');
    try {
      const session = await within(ANSWER_WITHIN_MS, '/auth/session', () => http.get('/auth/session', { token: device.access_token }));
      assert.equal(session.status, 200);
      for (const [label, run] of [
        ['login', () => http.post('/auth/login', { email: user.email, password: PASSWORD })],
        ['refresh', () => refresh(http, device.refresh_token)],
        ['register', () => http.post('/auth/register', { email: uniqueEmail('locked'), password: PASSWORD })],
      ] as Array<[string, () => Promise<Reply>]>) {
        assertUnavailable(await within(ANSWER_WITHIN_MS, label, run), label);
      }
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const rotated = await refresh(http, device.refresh_token);
    assert.equal(rotated.status, 200, `the chain is intact: ${rotated.text}`);
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 200);
  });
});

describe(`a process killed in the middle of rotations [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let child: ChildProcess | undefined;

  before(() => {
    db = freshDatabase();
  });
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db.drop();
  });

  const env = { AUTH_RATE_LIMIT: 'off', LOGIN_LOCKOUT: 'off', REFRESH_REUSE_GRACE: '60s', LOG_LEVEL: 'warn' };

  async function spawnServer(): Promise<{ url: string; process: ChildProcess }> {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    let stderr = '';
    const proc = spawn(process.execPath, [join(__dirname, '../../src/main.js')], {
      env: { ...process.env, ...db.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    await eventually(
      async () => {
        if (proc.exitCode !== null) throw new Error(`the server exited: ${stderr}`);
        return fetch(`${url}/health`).then((r) => r.ok, () => false);
      },
      30_000,
      50,
    );
    return { url, process: proc };
  }

  it('SIGKILL during a tight refresh loop leaves every session usable or cleanly revoked, never half-rotated', async () => {
    const devices: Device[] = [];
    let inDoubt = 0;
    let rotations = 0;
    for (let cycle = 0; cycle < 3; cycle++) {
      const server = await spawnServer();
      child = server.process;
      const http = new Http(server.url);
      if (cycle === 0) {
        const user = await register(http, uniqueEmail('killed'));
        for (let i = 0; i < 6; i++) devices.push({ tokens: await login(http, user.email, PASSWORD, { deviceId: `killed-device-${i}` }) });
      } else {
        // After the crash: the last token each device received still works (it is current, or
        // the server rotated once more without the answer reaching us, within the grace window).
        for (const [i, device] of devices.entries()) {
          const r = await refresh(http, device.tokens.refresh_token);
          assert.equal(r.status, 200, `cycle ${cycle}, device ${i}: ${r.text}`);
          device.tokens = r.body;
        }
      }
      // Every device refreshes as fast as it can; the process is killed at a random moment.
      let stop = false;
      const loops = devices.map(async (device) => {
        while (!stop) {
          let r: Reply<Tokens>;
          try {
            r = await refresh(http, device.tokens.refresh_token);
          } catch {
            inDoubt++; // the connection died with the request in flight
            return;
          }
          if (r.status !== 200) throw new Error(`a refresh failed before the kill: ${r.status} ${r.text}`);
          device.tokens = r.body;
          rotations++;
        }
      });
      await sleep(300 + Math.floor(Math.random() * 700));
      server.process.kill('SIGKILL');
      await new Promise((resolve) => server.process.once('exit', resolve));
      stop = true;
      await Promise.all(loops);
    }

    // Finally, in-process with the database at hand: rows are whole, and every chain continues.
    const app = await startApp(env, db);
    try {
      const rows = await app.database.rows<Record<string, unknown>>('SELECT * FROM sessions', []);
      assert.equal(rows.length, devices.length);
      for (const row of rows) {
        const generation = Number(row.generation);
        assert.ok(generation >= 1, 'rotated');
        assert.notEqual(row.rotated_at, null, 'a rotated session records when');
        assert.equal(row.revoked_at, null, 'no session was revoked by the crashes');
        assert.equal(row.revoked_reason, null);
        assert.ok(Number(row.last_used_at) <= Number(row.idle_expires_at) && Number(row.idle_expires_at) <= Number(row.expires_at), 'consistent expiry');
        assert.equal(Number(row.last_used_at), Number(row.rotated_at), 'the rotation wrote all of its columns together');
      }
      const http = new Http(app.url);
      for (const [i, device] of devices.entries()) {
        const r = await refresh(http, device.tokens.refresh_token);
        assert.equal(r.status, 200, `device ${i} after the last crash: ${r.text}`);
        const again = await refresh(http, r.body.refresh_token);
        assert.equal(again.status, 200, `device ${i}: the chain continues`);
        assert.equal((await http.get('/auth/session', { token: again.body.access_token })).status, 200);
      }
    } finally {
      await app.close();
    }
    process.stdout.write(`# faults: ${rotations} rotations across 3 SIGKILLs, ${inDoubt} refreshes in flight at a kill\n`);
    assert.ok(rotations > 50, 'the loop really rotated');
  });
});
