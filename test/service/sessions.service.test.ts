import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientContext } from '../../src/common/client-context';
import { AuditService } from '../../src/audit/audit.service';
import { RevocationRegistry } from '../../src/sessions/revocation-registry';
import { RevocationLog } from '../../src/sessions/revocation-log';
import { IssuedSession, SessionsService } from '../../src/sessions/sessions.service';
import type { User } from '../../src/users/user.entity';
import { calls, newTestService, ServiceTest } from '../support/service-test';
import { MemorySessionsRepository, MemoryTables, memoryStore } from '../support/service-fakes';

const client: ClientContext = { ip: '192.0.2.10', userAgent: 'service-test' };
const SECOND = 1000;
const DAY = 86_400 * SECOND;

describe('SessionsService (service test: in-memory sessions, fake clock)', () => {
  let t: ServiceTest<SessionsService>;
  let tables: MemoryTables;
  let repository: MemorySessionsRepository;
  let alice: User;

  beforeEach(async () => {
    const store = memoryStore();
    tables = store.tables;
    repository = store.sessions;
    // The defaults' shape, small enough to walk through: 10 s grace, 1 day idle, 3 days absolute, 3 sessions.
    t = await newTestService(SessionsService, {
      database: store.database,
      providers: store.repositories,
      config: { refreshReuseGrace: 10, refreshIdleTtl: 86_400, refreshTokenTtl: 3 * 86_400, maxSessionsPerUser: 3 },
    });
    alice = tables.addUser({ email: 'alice@example.test' });
  });

  const open = (deviceId: string, user: User = alice): Promise<IssuedSession> => t.database.transaction((db) => t.sut.open(user, { deviceId }, client, db));
  const row = (id: string) => tables.sessions.get(id)!;

  describe('rotation', () => {
    it('moves the chain one link forward and hands out the next link', async () => {
      const first = await open('laptop');
      t.clock.advance(SECOND);
      const outcome = await t.sut.refresh(first.refreshToken, client);
      assert.ok(outcome.ok && outcome.rotated);
      assert.notEqual(outcome.session.refreshToken, first.refreshToken);
      assert.equal(row(first.sessionId).generation, 1);
      assert.equal(row(first.sessionId).lastUsedAt, t.clock.now());
    });

    it("a compare-and-swap that matches no row (affected = 0) is a lost race: re-read, and inside the grace window the winner's link comes back", async () => {
      const first = await open('laptop');
      let winner: IssuedSession | undefined;
      // Another tab refreshes with the same link between this refresh's read and its swap.
      repository.beforeNextSwap = async () => {
        const other = await t.sut.refresh(first.refreshToken, client);
        assert.ok(other.ok && other.rotated);
        winner = other.session;
      };
      const outcome = await t.sut.refresh(first.refreshToken, client);
      assert.ok(outcome.ok, 'the loser of the race is not an error');
      assert.equal(outcome.rotated, false, 'and does not move the chain a second time');
      assert.equal(outcome.session.refreshToken, winner!.refreshToken);
      assert.equal(row(first.sessionId).generation, 1);
      assert.equal(row(first.sessionId).revokedAt, null);
    });

    it('a lost race against a revocation answers revoked, and moves nothing', async () => {
      const first = await open('laptop');
      repository.beforeNextSwap = async () => void (await t.sut.revoke({ sessionId: first.sessionId }, 'user_logout', { actorId: alice.id, client }));
      const outcome = await t.sut.refresh(first.refreshToken, client);
      assert.deepEqual(outcome, { ok: false, reason: 'revoked' });
      assert.equal(row(first.sessionId).generation, 0);
    });

    it('two refreshes with one link at once: one rotates, the other gets the same next link (grace)', async () => {
      const first = await open('laptop');
      const [a, b] = await Promise.all([t.sut.refresh(first.refreshToken, client), t.sut.refresh(first.refreshToken, client)]);
      assert.ok(a.ok && b.ok);
      assert.deepEqual([a.rotated, b.rotated].sort(), [false, true]);
      assert.equal(a.session.refreshToken, b.session.refreshToken);
      assert.equal(row(first.sessionId).generation, 1);
    });

    it('a forged link (right session, wrong MAC) changes nothing', async () => {
      const first = await open('laptop');
      const forged = first.refreshToken.slice(0, -2) + (first.refreshToken.endsWith('AA') ? 'BB' : 'AA');
      assert.deepEqual(await t.sut.refresh(forged, client), { ok: false, reason: 'invalid' });
      assert.equal(row(first.sessionId).generation, 0);
      assert.equal(row(first.sessionId).revokedAt, null);
    });
  });

  describe('reuse of an old link', () => {
    it('inside the grace window: the current link again, nothing revoked', async () => {
      const first = await open('laptop');
      const second = await t.sut.refresh(first.refreshToken, client);
      assert.ok(second.ok);
      t.clock.advance(10 * SECOND);
      const again = await t.sut.refresh(first.refreshToken, client);
      assert.ok(again.ok && !again.rotated);
      assert.equal(again.session.refreshToken, second.session.refreshToken);
      assert.equal(row(first.sessionId).revokedAt, null);
    });

    it('outside the grace window: theft; the whole session (family) is revoked, recorded and announced', async () => {
      const first = await open('laptop');
      const second = await t.sut.refresh(first.refreshToken, client);
      assert.ok(second.ok);
      t.clock.advance(10 * SECOND + 1);
      assert.deepEqual(await t.sut.refresh(first.refreshToken, client), { ok: false, reason: 'reuse' });
      assert.equal(row(first.sessionId).revokedReason, 'refresh_token_reuse');
      assert.deepEqual(
        await t.sut.refresh(second.session.refreshToken, client),
        { ok: false, reason: 'revoked' },
        "the thief's (or owner's) current link dies too",
      );
      const events = calls(t.mock(AuditService).record).map(([e]) => e);
      assert.ok(events.some((e) => !Array.isArray(e) && e.type === 'refresh_token_reuse' && e.sessionId === first.sessionId));
      assert.deepEqual(
        calls(t.mock(RevocationRegistry).announce).map(([ids]) => ids),
        [[first.sessionId]],
      );
    });

    it('any link older than the one before: theft, even inside the grace window', async () => {
      const first = await open('laptop');
      const second = await t.sut.refresh(first.refreshToken, client);
      assert.ok(second.ok);
      const third = await t.sut.refresh(second.session.refreshToken, client);
      assert.ok(third.ok);
      assert.deepEqual(await t.sut.refresh(first.refreshToken, client), { ok: false, reason: 'reuse' });
      assert.notEqual(row(first.sessionId).revokedAt, null);
    });

    it('a link from before a step-up cannot mint the raised chain, nor end it', async () => {
      const first = await open('laptop');
      const raised = await t.sut.raiseAssurance(alice.id, first.sessionId, { acr: 'aal2', amr: ['pwd', 'otp'], authTime: t.clock.now() }, { rotate: true });
      assert.ok(raised);
      assert.deepEqual(await t.sut.refresh(first.refreshToken, client), { ok: false, reason: 'invalid' });
      assert.equal(row(first.sessionId).revokedAt, null);
      const next = await t.sut.refresh(raised.refreshToken, client);
      assert.ok(next.ok && next.session.assurance.acr === 'aal2');
    });
  });

  describe('a DPoP-bound session', () => {
    const openBound = () => t.database.transaction((db) => t.sut.open(alice, { deviceId: 'laptop', dpopJkt: 'key-1' }, client, db));
    const unproven = () => calls(t.mock(AuditService).record).filter(([e]) => !Array.isArray(e) && e.type === 'invalid_dpop_proof').length;

    it('a copied link without the key neither moves the chain nor, replayed, ends it; recorded once a minute', async () => {
      const first = await openBound();
      const moved = await t.sut.refresh(first.refreshToken, client, 'key-1');
      assert.ok(moved.ok);
      t.clock.advance(60 * SECOND);
      for (const [token, key] of [
        [moved.session.refreshToken, null],
        [first.refreshToken, null],
        [first.refreshToken, 'key-2'],
      ] as const) {
        assert.deepEqual(await t.sut.refresh(token, client, key), { ok: false, reason: 'unproven_key' });
      }
      assert.equal(row(first.sessionId).generation, 1);
      assert.equal(row(first.sessionId).revokedAt, null, 'a thief with a copied token cannot sign the owner out');
      assert.equal(unproven(), 1);
      t.clock.advance(60 * SECOND);
      await t.sut.refresh(first.refreshToken, client, null);
      assert.equal(unproven(), 2);
    });

    it('with its key, the proof is spent (replay-checked) before the chain moves', async () => {
      const first = await openBound();
      const spent: string[] = [];
      const outcome = await t.sut.refresh(first.refreshToken, client, 'key-1', async () => void spent.push('proof'));
      assert.ok(outcome.ok && outcome.rotated);
      assert.deepEqual(spent, ['proof']);
      const replayed = t.sut.refresh(outcome.session.refreshToken, client, 'key-1', async () => {
        throw new Error('proof replayed');
      });
      await assert.rejects(replayed, /proof replayed/);
      assert.equal(row(first.sessionId).generation, 1, 'a replayed proof moves nothing');
    });
  });

  describe('expiry', () => {
    it('a chain unused for REFRESH_IDLE_TTL ends; each use slides the idle window', async () => {
      const first = await open('laptop');
      t.clock.advance(DAY - SECOND);
      const used = await t.sut.refresh(first.refreshToken, client);
      assert.ok(used.ok, 'one second before the idle limit');
      t.clock.advance(DAY - SECOND);
      const slid = await t.sut.refresh(used.session.refreshToken, client);
      assert.ok(slid.ok, 'the first use moved the idle limit a day on');
      t.clock.advance(DAY);
      assert.deepEqual(await t.sut.refresh(slid.session.refreshToken, client), { ok: false, reason: 'expired' });
    });

    it('no use extends a chain past its absolute expiry, nor sets its idle limit past it', async () => {
      const first = await open('laptop');
      let token = first.refreshToken;
      for (let hours = 12; hours < 3 * 24; hours += 12) {
        t.clock.advance(12 * 3600 * SECOND);
        const outcome = await t.sut.refresh(token, client);
        assert.ok(outcome.ok, `still alive after ${hours} h`);
        token = outcome.session.refreshToken;
      }
      assert.equal(
        row(first.sessionId).idleExpiresAt,
        row(first.sessionId).expiresAt,
        'a use 12 h before the end slides the idle limit to the end, not a day on',
      );
      t.clock.advance(12 * 3600 * SECOND);
      assert.deepEqual(await t.sut.refresh(token, client), { ok: false, reason: 'expired' });
    });

    it("a disabled user's chain answers revoked", async () => {
      const first = await open('laptop');
      tables.users.get(alice.id)!.disabledAt = t.clock.now();
      assert.deepEqual(await t.sut.refresh(first.refreshToken, client), { ok: false, reason: 'revoked' });
    });
  });

  describe('opening sessions', () => {
    it("a login on a device replaces that device's session (device_relogin)", async () => {
      const first = await open('laptop');
      const second = await open('laptop');
      assert.equal(row(first.sessionId).revokedReason, 'device_relogin');
      assert.deepEqual(
        tables.live(alice.id).map((s) => s.id),
        [second.sessionId],
      );
    });

    it('past MAX_SESSIONS_PER_USER the least recently used session is revoked (session_limit), not the oldest', async () => {
      const a = await open('a');
      t.clock.advance(SECOND);
      const b = await open('b');
      t.clock.advance(SECOND);
      const c = await open('c');
      t.clock.advance(SECOND);
      assert.ok((await t.sut.refresh(a.refreshToken, client)).ok, 'the oldest session is the most recently used now');
      t.clock.advance(SECOND);
      const d = await open('d');
      assert.equal(row(b.sessionId).revokedReason, 'session_limit');
      assert.deepEqual(new Set(tables.live(alice.id).map((s) => s.id)), new Set([a.sessionId, c.sessionId, d.sessionId]));
    });

    it("counts one user's sessions only, and expired ones not at all", async () => {
      const bob = tables.addUser({ email: 'bob@example.test' });
      for (const device of ['b1', 'b2', 'b3']) await open(device, bob);
      const a = await open('a');
      t.clock.advance(DAY + SECOND); // a is idle-expired now
      await open('x');
      await open('y');
      await open('z');
      assert.equal(tables.live(bob.id).length, 3, 'bob keeps his sessions');
      assert.equal(row(a.sessionId).revokedAt, null, 'an expired session is not revoked to make room: it does not count');
    });
  });

  describe('revocation', () => {
    it('is announced only after its transaction commits, never after a rollback', async () => {
      const first = await open('laptop');
      await assert.rejects(
        t.database.transaction(async (db) => {
          await t.sut.revoke({ userId: alice.id }, 'admin_revoked', { actorId: null, client }, db);
          throw new Error('something later in the same transaction failed');
        }),
      );
      assert.equal(row(first.sessionId).revokedAt, null, 'rolled back');
      assert.equal(calls(t.mock(RevocationRegistry).announce).length, 0);
      assert.equal(calls(t.mock(RevocationLog).sequenceSoon).length, 0);
      await t.sut.revoke({ userId: alice.id }, 'admin_revoked', { actorId: null, client });
      assert.deepEqual(
        calls(t.mock(RevocationRegistry).announce).map(([ids]) => ids),
        [[first.sessionId]],
      );
      assert.deepEqual(calls(t.mock(RevocationLog).record).at(-1)?.[0], [{ id: first.sessionId, userId: alice.id }], 'written to the revocation log');
    });

    it('"others" spares the caller\'s session (excludeId), and another user\'s', async () => {
      const mine = await open('laptop');
      const phone = await open('phone');
      const bob = tables.addUser({ email: 'bob@example.test' });
      const bobs = await open('bob-laptop', bob);
      const revoked = await t.sut.revoke({ userId: alice.id, excludeId: mine.sessionId }, 'user_logout', { actorId: alice.id, client });
      assert.deepEqual(
        revoked.map((r) => r.id),
        [phone.sessionId],
      );
      assert.equal(row(mine.sessionId).revokedAt, null);
      assert.equal(row(bobs.sessionId).revokedAt, null);
    });

    it('"this wasn\'t me" revokes the reported sign-in and everything after it, and spares what came before', async () => {
      const before = await open('laptop');
      t.clock.advance(SECOND);
      const reported = await open('intruder');
      t.clock.advance(SECOND);
      const after = await open('phone');
      const { revoked, since } = await t.database.transaction((db) => t.sut.revokeReported(alice.id, reported.sessionId, { actorId: alice.id, client }, db));
      assert.deepEqual(new Set(revoked.map((r) => r.id)), new Set([reported.sessionId, after.sessionId]));
      assert.equal(since, row(reported.sessionId).createdAt);
      assert.equal(row(before.sessionId).revokedAt, null);
      assert.equal((await t.sut.deviceHistory(alice.id, 'intruder')).seen, false, 'a reported device alerts again at its next login');
    });

    it('"this wasn\'t me" for a session housekeeping deleted revokes them all', async () => {
      const a = await open('laptop');
      const gone = await open('intruder');
      tables.sessions.delete(gone.sessionId);
      const { revoked, since } = await t.database.transaction((db) => t.sut.revokeReported(alice.id, gone.sessionId, { actorId: alice.id, client }, db));
      assert.deepEqual(
        revoked.map((r) => r.id),
        [a.sessionId],
      );
      assert.equal(since, 0);
    });
  });
});
