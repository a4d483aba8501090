import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import { freePort } from '../support/faults';
import { join } from 'node:path';
import { freshDatabase, TestDatabase, TEST_DB } from '../support/app';
import { Http, PASSWORD, register } from '../support/http';

/** The real entry point (`node dist/src/main.js`, what `npm start` runs) in a child process. */
describe(`graceful shutdown of the real process [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let child: ChildProcess;
  let url: string;
  let stderr = '';
  let stdout = '';

  before(async () => {
    db = freshDatabase();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [join(__dirname, '../../src/main.js')], {
      env: { ...process.env, ...db.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', AUTH_RATE_LIMIT: 'off', LOGIN_LOCKOUT: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const started = Date.now();
    for (;;) {
      try {
        if ((await fetch(`${url}/health`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() - started > 30_000) throw new Error(`the server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db.drop();
  });

  it('finishes requests in flight on SIGTERM, then exits', async () => {
    const http = new Http(url);
    const user = await register(http);
    // Logins cost an argon2 verify each (~15 ms), so these are still being processed when the
    // signal lands. The server's own request log tells when it has started all of them.
    const started = () => stdout.split('\n').filter((l) => l.includes('"incoming request"') && l.includes('/auth/login')).length;
    const inflight = Array.from({ length: 4 }, () => http.post('/auth/login', { email: user.email, password: PASSWORD }));
    const waitStart = Date.now();
    while (started() < 4 && Date.now() - waitStart < 10_000) await new Promise((r) => setTimeout(r, 1));
    assert.equal(started(), 4);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.kill('SIGTERM');
    const results = await Promise.all(inflight);
    for (const r of results) assert.equal(r.status, 200, r.text);
    // Keep-alive clients are told to hang up, so exiting does not wait out the 72 s keep-alive timeout.
    const { code, signal } = await Promise.race([
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still running 30 s after SIGTERM')), 30_000)),
    ]);
    // Exit code 0 is what the shutdown path returns once everything closed; a process killed
    // outright, or one that crashed while closing, exits otherwise.
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `clean exit after closing: ${stderr.slice(-500)}`);
    await assert.rejects(fetch(`${url}/health`), 'no longer listening');
    assert.doesNotMatch(stderr, /error/i, stderr);
  });
});
