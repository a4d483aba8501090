import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freshDatabase, startApp, MYSQL_URL, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { ANSWER_WITHIN_MS, FaultyProxy, RECOVER_WITHIN_MS, assertUnavailable, within } from '../support/faults';
import { Http, PASSWORD, Reply, eventually, login, refresh, register, uniqueEmail } from '../support/http';

// Runs in the e2e-mysql suite only (the .mysql.test name): SQLite is a file, not a network peer.

const DB_TIMEOUT_MS = '1000';
const ADMIN = { email: 'faults-admin@example.com', password: 'faults admin password' };

describe(`database outages [${TEST_DB}]`, () => {
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
        env: {
          ...process.env,
          ...db.env,
          DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}${name}`,
          DB_TIMEOUT_MS,
          PORT: '0',
          HOST: '127.0.0.1',
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
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
