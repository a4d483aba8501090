import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Test, TestingModule } from '@nestjs/testing';
import { loadConfig } from '../../src/config/config';
import { ConfigModule } from '../../src/config/config.module';
import { Clock } from '../../src/common/clock';
import { CommonModule } from '../../src/common/common.module';
import { DatabaseModule } from '../../src/database/database.module';
import { DatabaseService } from '../../src/database/database.service';
import { RedisModule } from '../../src/redis/redis.module';
import { MetricsModule } from '../../src/metrics/metrics.module';
import { SessionsModule } from '../../src/sessions/sessions.module';
import { SessionsService } from '../../src/sessions/sessions.service';
import { RevocationRegistry } from '../../src/sessions/revocation-registry';
import { RevocationLog } from '../../src/sessions/revocation-log';
import { eventually } from '../support/http';
import { UsersModule } from '../../src/users/users.module';
import { UsersService } from '../../src/users/users.service';
import { freshDatabase, TestDatabase, testEnv, TEST_DB } from '../support/app';
import { FakeClock } from '../support/clock';
import { auditCount } from '../support/db';

const CLIENT = { ip: '127.0.0.1', userAgent: 'module-test' };
const SYSTEM = { actorId: null, client: null };

/**
 * The sessions module on its own, built with @nestjs/testing: no HTTP, a real database, and
 * the clock overridden, so time-bound rules are tested without waiting.
 */
describe(`the sessions module, without HTTP [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let moduleRef: TestingModule;
  let sessions: SessionsService;
  let database: DatabaseService;
  let registry: RevocationRegistry;
  let log: RevocationLog;
  let userId: string;
  const clock = new FakeClock();

  before(async () => {
    db = freshDatabase();
    const config = loadConfig(testEnv(db, { REFRESH_REUSE_GRACE: '10s', REFRESH_IDLE_TTL: '1h', REFRESH_TOKEN_TTL: '1d' }));
    moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), CommonModule, DatabaseModule, RedisModule, MetricsModule, UsersModule, SessionsModule],
    })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    await moduleRef.init();
    sessions = moduleRef.get(SessionsService);
    database = moduleRef.get(DatabaseService);
    registry = moduleRef.get(RevocationRegistry);
    log = moduleRef.get(RevocationLog);
    userId = (await moduleRef.get(UsersService).create({ email: `module-${Date.now()}@example.com`, password: 'correct horse battery' }, SYSTEM)).id;
  });
  after(async () => {
    await moduleRef?.close();
    await db?.drop();
  });

  const open = (deviceId: string, dpopJkt: string | null = null) =>
    database.transaction((tx) => sessions.open({ id: userId, role: 'user' }, { deviceId, dpopJkt }, CLIENT, tx));

  it('keeps the reuse grace window to the millisecond, on the injected clock', async () => {
    const first = await open('grace-device-1');
    const second = await sessions.refresh(first.refreshToken, CLIENT);
    assert.ok(second.ok);
    clock.advance(10_000);
    const again = await sessions.refresh(first.refreshToken, CLIENT);
    assert.ok(again.ok && again.session.refreshToken === second.session.refreshToken, 'at exactly the grace window: the same next link');
    clock.advance(1);
    assert.deepEqual(await sessions.refresh(first.refreshToken, CLIENT), { ok: false, reason: 'reuse' }, 'one millisecond later: a replay');
  });

  it('refuses a bound chain without its key, and records that once a minute per session however often it is tried', async () => {
    const bound = await open('bound-device-1', 'the-device-key-thumbprint');
    const unproven = () => auditCount({ database }, 'invalid_dpop_proof', { sessionId: bound.sessionId });
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await sessions.refresh(bound.refreshToken, CLIENT, i % 2 ? 'another-key' : null), { ok: false, reason: 'unproven_key' });
    assert.equal(await unproven(), 1, 'five attempts within the minute: one row');
    const other = await open('bound-device-2', 'the-device-key-thumbprint');
    assert.deepEqual(await sessions.refresh(other.refreshToken, CLIENT), { ok: false, reason: 'unproven_key' });
    assert.equal(await auditCount({ database }, 'invalid_dpop_proof', { sessionId: other.sessionId }), 1, 'another session has its own minute');
    clock.advance(59_999);
    await sessions.refresh(bound.refreshToken, CLIENT);
    assert.equal(await unproven(), 1);
    clock.advance(1);
    await sessions.refresh(bound.refreshToken, CLIENT);
    assert.equal(await unproven(), 2, 'a minute later: recorded again');
    const next = await sessions.refresh(bound.refreshToken, CLIENT, 'the-device-key-thumbprint');
    assert.ok(next.ok && next.rotated, 'with its key the chain moves on: nothing was consumed');
  });

  it('expires an idle chain on the injected clock', async () => {
    const s = await open('idle-device-1');
    clock.advance(3_600_000);
    assert.deepEqual(await sessions.refresh(s.refreshToken, CLIENT), { ok: false, reason: 'expired' });
  });

  it('announces a revocation after its transaction commits, and never after a rollback', async () => {
    const kept = await open('rollback-device-1');
    await assert.rejects(
      database.transaction(async (tx) => {
        await sessions.revoke({ sessionId: kept.sessionId }, 'user_logout', SYSTEM, tx);
        assert.equal(registry.isRevoked(kept.sessionId), false, 'not announced before the commit');
        throw new Error('rolled back on purpose');
      }),
      /rolled back on purpose/,
    );
    assert.equal(registry.isRevoked(kept.sessionId), false, 'a rolled-back revocation is never announced');
    assert.ok((await sessions.refresh(kept.refreshToken, CLIENT)).ok, 'and the session still works');

    const gone = await open('commit-device-1');
    const heard: string[] = [];
    const stop = log.onAdvance((events) => heard.push(...events.map((e) => e.sessionId)));
    await database.transaction((tx) => sessions.revoke({ sessionId: gone.sessionId }, 'user_logout', SYSTEM, tx));
    assert.equal(registry.isRevoked(gone.sessionId), true, 'announced here as soon as it committed');
    await eventually(async () => heard.length > 0, 5000);
    stop();
    assert.deepEqual(heard, [gone.sessionId], 'and it joined the revocation log once: the rolled-back one never did');
  });
});
