import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freshDatabase, startApp, TestDatabase, TEST_DB } from '../support/app';
import { freePort } from '../support/faults';
import { Http, PASSWORD, Reply, Tokens, eventually, login, refresh, register, sleep, uniqueEmail } from '../support/http';

/** What a client holds for one signed-in device. */
interface Device {
  tokens: Tokens;
}

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
    const port = await freePort();
    let stderr = '';
    const proc = spawn(process.execPath, [join(__dirname, '../../src/main.js')], {
      env: { ...process.env, ...db.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(
        async () => {
          if (proc.exitCode !== null) throw new Error(`the server exited: ${stderr}`);
          return fetch(`${url}/health`).then(
            (r) => r.ok,
            () => false,
          );
        },
        30_000,
        50,
      );
    } catch (error) {
      proc.kill('SIGKILL'); // a server that never answered must not keep the test file alive
      throw error;
    }
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
      // The kill lands mid-stream: after this cycle has rotated some chains, at a random moment.
      const before = rotations;
      await eventually(async () => rotations - before >= 12, 30_000, 10);
      await sleep(Math.floor(Math.random() * 700));
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
  });
});
