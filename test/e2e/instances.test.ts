import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { freshDatabase, REDIS_URL, startApp, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { needs, redisAnswers } from '../support/services';
import { Http, eventually, login, register } from '../support/http';
import { RevocationRegistry } from '../../src/sessions/revocation-registry';

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

  describe('by Redis pub/sub', async () => {
    const skip = needs(`Redis at ${REDIS_URL}`, await redisAnswers(), 'REQUIRE_REDIS');
    let a: TestApp, b: TestApp, db: TestDatabase;
    before(async () => {
      if (skip) return;
      // Polling is slowed to a minute, so only pub/sub can explain a fast rejection.
      ({ a, b, db } = await pair({ REDIS_URL, REDIS_KEY_PREFIX: `lktest:${randomBytes(4).toString('hex')}:`, REVOCATION_POLL_MS: '60000' }));
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await db?.drop();
    });

    it('B rejects a session revoked on A without waiting for a poll', { skip }, async () => {
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
