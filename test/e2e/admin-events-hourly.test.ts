import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from '../../src/common/ids';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, login, register, Tokens } from '../support/http';

const ADMIN_EMAIL = 'hourly-admin@example.com';
const ADMIN_PASSWORD = 'admin password 1';
const HOUR = 3_600_000;
/** Long before anything the suite records: the events below are the only ones in these ranges. */
const BASE = Date.UTC(2001, 0, 1);
const LATER = BASE + 10 * 24 * HOUR;
const at = (ms: number) => new Date(ms).toISOString();

/** Audit rows at chosen times, straight into the table: AuditService stamps the present. */
async function insertEvents(app: TestApp, type: string, times: number[]): Promise<void> {
  for (let i = 0; i < times.length; i += 500) {
    const chunk = times.slice(i, i + 500);
    await app.database.exec(
      `INSERT INTO audit_events (id, type, user_id, session_id, actor_id, ip, user_agent, details, created_at) VALUES ${chunk.map(() => '(?, ?, NULL, NULL, NULL, NULL, NULL, NULL, ?)').join(', ')}`,
      chunk.flatMap((t) => [uuidv7(t), type, t]),
    );
  }
}

describe(`GET /admin/events/hourly [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let admin: Tokens;

  const hourly = async (query: Record<string, string>, token = admin.access_token) => http.get(`/admin/events/hourly?${new URLSearchParams(query)}`, { token });
  const counts = async (query: Record<string, string>): Promise<number[]> => {
    const r = await hourly(query);
    assert.equal(r.status, 200, r.text);
    return r.body.hours.map((h: { count: number }) => h.count);
  };

  before(async () => {
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD });
    http = new Http(app.url);
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    await insertEvents(app, 'login_succeeded', [
      BASE - 1, // before the range
      BASE, // the first millisecond of hour 0
      BASE + HOUR - 1, // the last millisecond of hour 0
      BASE + HOUR, // the first of hour 1
      BASE + HOUR + 1,
      BASE + 3 * HOUR + 600_000,
      BASE + 3 * HOUR + 1_200_000,
      BASE + 3 * HOUR + 1_800_000,
      BASE + 5 * HOUR, // the range's end: excluded
    ]);
    await insertEvents(app, 'refresh_token_reuse', [BASE + HOUR + 2]);
    // Far more than the dashboard used to page through (2,000), in one hour ten days later.
    await insertEvents(
      app,
      'login_succeeded',
      Array.from({ length: 2500 }, (_, i) => LATER + HOUR + i),
    );
  });
  after(async () => app?.close());

  it('counts each hour of the range, empty hours as zero, events on a boundary in the hour they start', async () => {
    const r = await hourly({ from: at(BASE), to: at(BASE + 5 * HOUR), type: 'login_succeeded' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, {
      from: at(BASE),
      to: at(BASE + 5 * HOUR),
      type: 'login_succeeded',
      hours: [2, 2, 0, 3, 0].map((count, i) => ({ start: at(BASE + i * HOUR), count })),
    });
    assert.deepEqual(await counts({ from: at(BASE), to: at(BASE + 5 * HOUR) }), [2, 3, 0, 3, 0], 'every type when none is named');
    assert.deepEqual(await counts({ from: at(BASE), to: at(BASE + 5 * HOUR), type: 'refresh_token_reuse' }), [0, 1, 0, 0, 0]);
  });

  it('starts the hours at `from`, wherever it falls, and cuts the last one short at `to`', async () => {
    // [0:30, 1:30) [1:30, 2:30) [2:30, 3:30) [3:30, 3:45)
    const r = await hourly({ from: at(BASE + HOUR / 2), to: at(BASE + 3 * HOUR + 2_700_000), type: 'login_succeeded' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.body.hours.map((h: { start: string; count: number }) => [h.start, h.count]),
      [
        [at(BASE + HOUR / 2), 3],
        [at(BASE + 1.5 * HOUR), 0],
        [at(BASE + 2.5 * HOUR), 2],
        [at(BASE + 3.5 * HOUR), 1],
      ],
    );
    // The same instant written with another zone means the same range.
    assert.deepEqual(await counts({ from: '2001-01-01T05:30:00+05:30', to: '2001-01-01T10:30:00+05:30', type: 'login_succeeded' }), [2, 2, 0, 3, 0]);
  });

  it('counts every event, far past what the dashboard used to page through (2,000)', async () => {
    assert.deepEqual(await counts({ from: at(LATER), to: at(LATER + 3 * HOUR), type: 'login_succeeded' }), [0, 2500, 0]);
  });

  it('takes 31 days at most: 744 hours', async () => {
    const hours = await counts({ from: at(BASE), to: at(BASE + 744 * HOUR) });
    assert.equal(hours.length, 744);
    assert.equal(
      hours.reduce((a, c) => a + c, 0),
      8 + 1 + 2500,
      'the eight sign-ins after BASE, the theft detection and the 2,500',
    );
  });

  it('answers 400 validation_failed to a range it cannot count, naming the field', async () => {
    const bad: Array<[Record<string, string>, string]> = [
      [{ to: at(BASE + HOUR) }, 'from'],
      [{ from: at(BASE) }, 'to'],
      [{ from: at(BASE), to: at(BASE) }, 'to'],
      [{ from: at(BASE + HOUR), to: at(BASE) }, 'to'],
      [{ from: at(BASE), to: at(BASE + 744 * HOUR + 1) }, 'to'],
      [{ from: 'yesterday', to: at(BASE) }, 'from'],
      [{ from: '2001-01-01T00:00:00', to: at(BASE + HOUR) }, 'from'],
      [{ from: '2001-02-30T00:00:00Z', to: '2001-03-03T00:00:00Z' }, 'from'],
      [{ from: String(BASE), to: String(BASE + HOUR) }, 'from'],
      [{ from: at(BASE), to: at(BASE + HOUR), type: 'no_such_type' }, 'type'],
      [{ from: at(BASE), to: at(BASE + HOUR), limit: '10' }, 'limit'],
    ];
    for (const [query, field] of bad) {
      const r = await hourly(query);
      assert.equal(r.status, 400, `${JSON.stringify(query)}: ${r.text}`);
      assert.equal(r.body.error, 'validation_failed');
      assert.ok(
        r.body.details.some((d: { field: string }) => d.field === field),
        `${JSON.stringify(query)} names ${field}: ${r.text}`,
      );
    }
    const repeated = await http.get(`/admin/events/hourly?from=${at(BASE)}&from=${at(BASE)}&to=${at(BASE + HOUR)}`, { token: admin.access_token });
    assert.equal(repeated.status, 400, repeated.text);
  });

  it('is for admins only: 401 without a token, 403 forbidden for a user', async () => {
    const query = { from: at(BASE), to: at(BASE + HOUR) };
    assert.equal((await http.get(`/admin/events/hourly?${new URLSearchParams(query)}`)).status, 401);
    const user = await register(http);
    const r = await hourly(query, (await login(http, user.email)).access_token);
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'forbidden');
  });
});
