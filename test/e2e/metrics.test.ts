import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, Socket } from 'node:net';
import { MetricsService } from '../../src/metrics/metrics.service';
import { HashingPool } from '../../src/users/hashing-pool';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, eventually, login, refresh, register, uniqueEmail } from '../support/http';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';

/** One sample of a metric from the Prometheus text format (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[3] ? match[3].split(',') : [];
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(match[4]);
  }
  return 0;
}

describe(`Prometheus metrics on METRICS_PORT [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const clock = new ShiftedClock();
  let metricsUrl: string;
  const scrape = async () => (await fetch(metricsUrl)).text();

  before(async () => {
    app = await startApp({ METRICS_PORT: '0', LOGIN_LOCKOUT: '2/1m', REFRESH_REUSE_GRACE: '1s' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
    metricsUrl = `http://127.0.0.1:${app.app.get(MetricsService).port}/metrics`;
  });
  after(async () => app.close());

  it('serves them on their own port only, with the default process metrics', async () => {
    assert.equal((await http.get('/metrics')).status, 404, 'never on the public port');
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /^latchkey_process_cpu_user_seconds_total \d/m);
    assert.match(text, /^latchkey_nodejs_eventloop_lag_seconds \d/m);
  });

  it('counts logins, refreshes, theft detections, revocations and lockouts as they happen', async () => {
    const before = await scrape();
    const user = await register(http);
    const t = await login(http, user.email);
    for (let i = 0; i < 3; i++) await http.post('/auth/login', { email: user.email, password: 'wrong password' });
    const next = await refresh(http, t.refresh_token);
    assert.equal(next.status, 200);
    assert.equal((await refresh(http, t.refresh_token)).status, 200, 'within the grace window');
    clock.advance(1100);
    assert.equal((await refresh(http, t.refresh_token)).body.error, 'invalid_grant', 'a replay');
    const other = await login(new Http(app.url), (await register(http)).email);
    await http.post('/auth/logout', undefined, { token: other.access_token });
    const now = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(now, name, labels) - sample(before, name, labels);
    assert.equal(delta('latchkey_logins_total', { outcome: 'success' }), 2);
    assert.equal(delta('latchkey_logins_total', { outcome: 'invalid_credentials' }), 2);
    assert.equal(delta('latchkey_logins_total', { outcome: 'rate_limited' }), 1, 'the third wrong password hit the lockout');
    assert.equal(delta('latchkey_rate_limited_total', { kind: 'email' }), 1);
    assert.equal(delta('latchkey_refreshes_total', { outcome: 'rotated' }), 1);
    assert.equal(delta('latchkey_refreshes_total', { outcome: 'grace' }), 1);
    assert.equal(delta('latchkey_refreshes_total', { outcome: 'reuse' }), 1);
    assert.equal(delta('latchkey_theft_detections_total'), 1);
    assert.equal(delta('latchkey_revocations_total', { reason: 'refresh_token_reuse' }), 1);
    assert.equal(delta('latchkey_revocations_total', { reason: 'user_logout' }), 1);
    assert.ok(sample(now, 'latchkey_revocation_registry_size') >= 2, 'the registry holds the revoked sessions');
  });

  it('keeps label values bounded: no e-mail address, user, session or address in them', async () => {
    const text = await scrape();
    const labels = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).join('\n');
    assert.doesNotMatch(labels, /@|[0-9a-f]{8}-[0-9a-f]{4}-|127\.0\.0\.1/);
  });
});

describe(`login floods are shed before any hashing [${TEST_DB}]`, () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({ METRICS_PORT: '0', ARGON2_WORKERS: '1', ARGON2_QUEUE: '1', LOGIN_LOCKOUT: '6/1m' });
  });
  after(async () => app.close());

  it('answers 503 with Retry-After past the queue, counts it, and a shed attempt does not count toward the lockout', async () => {
    const http = new Http(app.url);
    const user = await register(http, uniqueEmail('flood'));
    const answers = await Promise.all(Array.from({ length: 12 }, () => http.post('/auth/login', { email: user.email, password: 'wrong password' })));
    const shed = answers.filter((r) => r.status === 503);
    assert.ok(shed.length > 0, `some of 12 concurrent logins are shed with one worker and a queue of one (${answers.map((r) => r.status).join(',')})`);
    for (const r of shed) {
      assert.equal(r.body.error, 'service_unavailable');
      assert.equal(r.headers.get('retry-after'), '1');
    }
    const wrong = answers.filter((r) => r.status === 401 || r.status === 429).length;
    assert.equal(wrong + shed.length, 12);
    const text = await (await fetch(`http://127.0.0.1:${app.app.get(MetricsService).port}/metrics`)).text();
    assert.equal(sample(text, 'latchkey_password_hashing_shed_total'), shed.length);
    // One worker and a queue of one: a few of the burst are checked (those that arrive while a
    // slot is free), the rest shed before the lockout counts them, so the owner (6 attempts a
    // minute) is not locked out. Were shed attempts counted, all 12 would be, and it would be.
    const checked = answers.filter((r) => r.status === 401).length;
    assert.ok(checked >= 1 && checked < 6, `${checked} checked`);
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 200, 'shed attempts did not lock the owner out');
  });

  it('never lets more logins past the door than workers plus queue, counting those not yet hashed', async () => {
    const http = new Http(app.url);
    const user = await register(http, uniqueEmail('room'));
    const pool = app.app.get(HashingPool);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, pool.inFlight)), 1);
    try {
      const answers = await Promise.all(Array.from({ length: 30 }, () => http.post('/auth/login', { email: user.email, password: PASSWORD })));
      assert.ok(
        answers.every((r) => r.status === 200 || r.status === 503),
        answers.map((r) => r.status).join(','),
      );
    } finally {
      clearInterval(watch);
    }
    assert.ok(most >= 1 && most <= 2, `at most ARGON2_WORKERS + ARGON2_QUEUE = 2 admitted at once (saw ${most})`);
    await eventually(async () => pool.inFlight === 0, 5000, 10);
  });

  it('a client trickling its body holds no room: the next login still gets in, and a hang-up gives room back', async () => {
    const http = new Http(app.url);
    const user = await register(http, uniqueEmail('trickle'));
    const url = new URL(app.url);
    const sockets = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<Socket>((resolve) => {
            const socket = connect(Number(url.port), url.hostname, () => {
              socket.write(`POST /auth/login HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"email":`);
              resolve(socket);
            });
            socket.on('error', () => undefined);
          }),
      ),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const r = await http.post('/auth/login', { email: user.email, password: PASSWORD });
      assert.equal(r.status, 200, `three unfinished bodies must not take the room of two: ${r.text}`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await eventually(async () => app.app.get(HashingPool).inFlight === 0, 5000, 10);
  });
});
