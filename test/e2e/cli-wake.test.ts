import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RevocationRegistry } from '../../src/sessions/revocation-registry';
import { REDIS_URL, startApp, TestApp, TEST_DB } from '../support/app';
import { Http, eventually, login, register } from '../support/http';
import { needs, redisAnswers } from '../support/services';

function cli(app: TestApp, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, '../../src/cli/main.js'), ...args], {
      env: { ...process.env, ...app.env, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

/** A signed-in admin whom the CLI then demotes (which revokes their sessions, reason role_changed). */
async function demotedByCli(app: TestApp, http: Http): Promise<{ sessionId: string; accessToken: string }> {
  const user = await register(http);
  assert.equal((await cli(app, ['promote', user.email])).code, 0);
  const t = await login(http, user.email);
  const demoted = await cli(app, ['demote', user.email]);
  assert.equal(demoted.code, 0, demoted.stderr);
  return { sessionId: t.session_id, accessToken: t.access_token };
}

describe(`revocations made by the CLI [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    // The running instance polls once a minute: only the CLI itself can have sequenced its revocation.
    app = await startApp({ ADMIN_EMAIL: 'wake-admin@example.com', ADMIN_PASSWORD: 'wake admin password', REVOCATION_POLL_MS: '60000' });
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it("have their place in the revocation log before the CLI exits, not at a running instance's next poll", async () => {
    const { sessionId } = await demotedByCli(app, http);
    const [row] = await app.database.rows<{ seq: unknown }>('SELECT seq FROM session_revocations WHERE session_id = ?', [sessionId]);
    assert.notEqual(row.seq, null, 'sequenced by the CLI before it exited');
  });
});

describe(`revocations made by the CLI, with Redis [${TEST_DB}]`, async () => {
  const skip = needs(`Redis at ${REDIS_URL}`, await redisAnswers(), 'REQUIRE_REDIS');
  let app: TestApp;
  let http: Http;

  before(async () => {
    if (skip) return;
    app = await startApp({
      ADMIN_EMAIL: 'wake-admin@example.com',
      ADMIN_PASSWORD: 'wake admin password',
      REDIS_URL,
      REDIS_KEY_PREFIX: `lktest:${randomBytes(4).toString('hex')}:`,
      REVOCATION_POLL_MS: '60000',
    });
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('reach a running instance at once over pub/sub, without waiting for its poll', { skip }, async () => {
    await eventually(async () => app.app.get(RevocationRegistry).redisReady, 5000, 10);
    const { accessToken } = await demotedByCli(app, http);
    // The instance polls once a minute: a rejection within seconds can only come from the CLI's message.
    await eventually(async () => (await http.get('/auth/session', { token: accessToken })).status === 401, 5000, 20);
  });
});
