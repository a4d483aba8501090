import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { MetricsService } from '../../src/metrics/metrics.service';
import { ANSWER_WITHIN_MS, assertUnavailable, within } from '../support/faults';
import { Http, PASSWORD, Reply, login, refresh, register, uniqueEmail } from '../support/http';

// Runs in the e2e-sqlite suite only (the .sqlite.test name).

/** better-sqlite3 ships no types here; this is the part the lock scenario uses. */
const Database: new (file: string) => { exec(sql: string): void; close(): void } = require('better-sqlite3');

describe(`database locked by another process [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startApp({ DB_TIMEOUT_MS: '300', METRICS_PORT: '0' });
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
    const metrics = await (await fetch(`http://127.0.0.1:${app.app.get(MetricsService).port}/metrics`)).text();
    assert.match(metrics, /^latchkey_database_errors_total\{kind="unavailable"\} [1-9]/m, 'the failures are counted for an alert');
    const rotated = await refresh(http, device.refresh_token);
    assert.equal(rotated.status, 200, `the chain is intact: ${rotated.text}`);
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 200);
  });
});
