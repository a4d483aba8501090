import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { freshDatabase, startApp, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { Http, eventually, login, register } from '../support/http';
import { RevocationRegistry } from '../../src/sessions/revocation-registry';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAnswers(): Promise<boolean> {
  const { default: Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Two instances on one database: what A revokes, B must reject. */
async function pair(env: Record<string, string>): Promise<{ a: TestApp; b: TestApp; db: TestDatabase }> {
  const db = freshDatabase();
  const a = await startApp(env, db);
  const b = await startApp(env, db);
  return { a, b, db };
}

describe(`revocation across instances [${TEST_DB}]`, () => {
  describe('by polling sessions.revoked_at (no Redis)', () => {
    let a: TestApp, b: TestApp, db: TestDatabase;
    before(async () => ({ a, b, db } = await pair({ REVOCATION_POLL_MS: '1000' })));
    after(async () => {
      await a.close();
      await b.close();
      await db.drop();
    });

    it('B rejects a session revoked on A within the poll interval', async () => {
      const httpA = new Http(a.url);
      const httpB = new Http(b.url);
      const user = await register(httpA);
      const t = await login(httpA, user.email);
      assert.equal((await httpB.get('/auth/session', { token: t.access_token })).status, 200, 'B accepts the token before');
      assert.equal((await httpA.post('/auth/logout', undefined, { token: t.access_token })).status, 204);
      const ms = await eventually(async () => (await httpB.get('/auth/session', { token: t.access_token })).status === 401, 5000, 20);
      console.log(`  propagation by polling: ${ms.toFixed(0)} ms`);
    });

    it('refills the registry at start, so a restarted instance still rejects revoked sessions', async () => {
      const httpA = new Http(a.url);
      const user = await register(httpA);
      const t = await login(httpA, user.email);
      await httpA.post('/auth/logout', undefined, { token: t.access_token });
      const c = await startApp({ REVOCATION_POLL_MS: '60000' }, db);
      try {
        assert.ok(c.app.get(RevocationRegistry).isRevoked(t.session_id));
        assert.equal((await new Http(c.url).get('/auth/session', { token: t.access_token })).status, 401);
      } finally {
        await c.close();
      }
    });
  });

  describe('by Redis pub/sub', () => {
    let a: TestApp, b: TestApp, db: TestDatabase;
    let available = false;
    before(async () => {
      available = await redisAnswers();
      if (!available && process.env.REQUIRE_REDIS !== '1') return;
      // Polling is slowed to a minute, so only pub/sub can explain a fast rejection.
      ({ a, b, db } = await pair({ REDIS_URL, REDIS_KEY_PREFIX: `lktest:${randomBytes(4).toString('hex')}:`, REVOCATION_POLL_MS: '60000' }));
    });
    after(async () => {
      if (!a) return;
      await a.close();
      await b.close();
      await db.drop();
    });

    it('B rejects a session revoked on A without waiting for a poll', async () => {
      assert.ok(available || process.env.REQUIRE_REDIS !== '1', 'Redis is required (REQUIRE_REDIS=1) but does not answer');
      if (!available) {
        console.log('  !!! Redis does not answer at ' + REDIS_URL + ': pub/sub propagation NOT tested');
        return;
      }
      const httpA = new Http(a.url);
      const httpB = new Http(b.url);
      const user = await register(httpA);
      const t = await login(httpA, user.email);
      assert.equal((await httpB.get('/auth/session', { token: t.access_token })).status, 200);
      // Give the subscriber a moment to be subscribed before the first publish.
      await eventually(async () => b.app.get(RevocationRegistry).redisReady, 5000, 10);
      assert.equal((await httpA.post('/auth/logout', undefined, { token: t.access_token })).status, 204);
      const ms = await eventually(async () => (await httpB.get('/auth/session', { token: t.access_token })).status === 401, 5000, 2);
      console.log(`  propagation by Redis: ${ms.toFixed(1)} ms`);
    });
  });
});
