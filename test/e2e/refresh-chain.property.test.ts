import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, register, uniqueEmail } from '../support/http';
import { SessionsService } from '../../src/sessions/sessions.service';
import type { ClientContext } from '../../src/common/client-context';
import { Clock } from '../../src/common/clock';
import { FakeClock } from '../support/clock';
import { Expected, ModelChain, modelChain, step } from '../support/refresh-model';

/**
 * Property: for any interleaving of refreshes (with any earlier token of the chain), concurrent
 * refreshes with one token, forged tokens, revocations and the passing of time, the real
 * SessionsService on a real database agrees with the model (test/support/refresh-model.ts) on
 * which tokens work, and on which token a working refresh hands out. The same model checks
 * the pure rule in test/unit/refresh-decision.property.test.ts.
 *
 * Time is the app's Clock provider, overridden with a FakeClock that the model drives.
 */

const GRACE_S = 1;
const IDLE_S = 60;
const TTL_S = 300;
const RULES = { graceMs: GRACE_S * 1000, idleMs: IDLE_S * 1000 };
const CLIENT: ClientContext = { ip: '127.0.0.1', userAgent: 'property-test' };

type Op =
  | { type: 'refresh'; s: number; pick: number; dt: number }
  | { type: 'concurrent'; s: number; pick: number; n: number; dt: number }
  | { type: 'forge'; s: number; dt: number }
  | { type: 'revoke'; s: number };

interface ModelSession extends ModelChain {
  id: string;
  /** Every token the chain has handed out, by generation. */
  tokens: Map<number, string>;
}

const generationOf = (token: string) => Number(token.split('.')[1]);

const dts = fc.constantFrom(0, 200, 900, 1000, 1001, 1500, 5_000, 30_000, 61_000, 250_000);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('refresh' as const), s: fc.nat(1), pick: fc.nat(7), dt: dts }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('concurrent' as const), s: fc.nat(1), pick: fc.nat(3), n: fc.integer({ min: 2, max: 4 }), dt: dts }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('forge' as const), s: fc.nat(1), dt: dts }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('revoke' as const), s: fc.nat(1) }) },
);

describe(`refresh chain agrees with its model [${TEST_DB}]`, () => {
  let app: TestApp;
  let sessions: SessionsService;
  let http: Http;
  const clock = new FakeClock();

  before(async () => {
    app = await startApp({ REFRESH_REUSE_GRACE: `${GRACE_S}s`, REFRESH_IDLE_TTL: `${IDLE_S}s`, REFRESH_TOKEN_TTL: `${TTL_S}s` }, undefined, [
      { provide: Clock, useValue: clock },
    ]);
    sessions = app.app.get(SessionsService);
    http = new Http(app.url);
  });
  after(async () => app.close());

  it('on random interleavings of refresh, replay, concurrent refresh, forgery, revoke and expiry', async () => {
    let runs = 0;
    let successes = 0;
    let failures = 0;
    const outcome = await fc.check(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        runs++;
        const user = await register(http, uniqueEmail('chain'));
        clock.time = Date.now();
        const model: ModelSession[] = [];
        for (let i = 0; i < 2; i++) {
          const opened = await app.database.transaction((db) =>
            sessions.open({ id: user.id, role: 'user' }, { deviceId: `device-${i}-${clock.time}` }, CLIENT, db),
          );
          model.push({ ...modelChain(clock.time, TTL_S * 1000, IDLE_S * 1000), id: opened.sessionId, tokens: new Map([[0, opened.refreshToken]]) });
        }
        // Later picks favour recent links: current, previous, then older ones.
        const pickToken = (s: ModelSession, pick: number): [number, string] => {
          const generations = [...s.tokens.keys()].sort((a, b) => b - a);
          const g = generations[Math.min(pick, generations.length - 1)];
          return [g, s.tokens.get(g)!];
        };
        const check = (label: string, expected: Expected, outcome: Awaited<ReturnType<SessionsService['refresh']>>, s: ModelSession) => {
          assert.equal(
            outcome.ok,
            expected.ok,
            `${label}: model says ${expected.ok ? 'works' : 'refused'}, service says ${JSON.stringify(outcome.ok ? 'works' : outcome)}`,
          );
          if (outcome.ok && expected.ok) {
            successes++;
            assert.equal(outcome.session.sessionId, s.id);
            assert.equal(generationOf(outcome.session.refreshToken), expected.generation, `${label}: the next link`);
            const known = s.tokens.get(expected.generation);
            // Inside the grace window the same link is handed out again (idempotent).
            if (known) assert.equal(outcome.session.refreshToken, known, `${label}: the same token again`);
            else s.tokens.set(expected.generation, outcome.session.refreshToken);
          } else failures++;
        };

        for (const [i, op] of ops.entries()) {
          const s = model[op.s];
          const label = `op ${i} ${JSON.stringify(op)}`;
          if (op.type === 'revoke') {
            await sessions.revoke({ userId: user.id, sessionId: s.id }, 'user_logout', { actorId: user.id, client: CLIENT });
            s.revoked = true;
            continue;
          }
          clock.advance(op.dt);
          const now = clock.time;
          if (op.type === 'forge') {
            // The current link with one MAC character changed, in the middle or in the last
            // character (whose two low bits a lax base64 decoder ignores): refused, nothing changes.
            const token = s.tokens.get(s.generation)!;
            const flip = (t: string, at: number) => t.slice(0, at) + (t[at] === 'A' ? 'B' : 'A') + t.slice(at + 1);
            for (const forged of [flip(token, token.length - 10), flip(token, token.length - 1)]) {
              const outcome = await sessions.refresh(forged, CLIENT);
              assert.equal(outcome.ok, false, `${label}: a forged token works: ${forged}`);
            }
            continue;
          }
          const [g, token] = pickToken(s, op.pick);
          if (op.type === 'refresh') {
            const expected = step(s, g, now, RULES);
            check(label, expected, await sessions.refresh(token, CLIENT), s);
          } else {
            // n requests with one token at one instant: the model sees them one after another.
            const outcomes = await Promise.all(Array.from({ length: op.n }, () => sessions.refresh(token, CLIENT)));
            const expected = outcomes.map(() => step(s, g, now, RULES));
            // Which request won the race is not observable; the multiset of outcomes is.
            const key = (o: { ok: boolean }) => String(o.ok);
            assert.deepEqual(outcomes.map(key).sort(), expected.map(key).sort(), `${label}: concurrent outcomes`);
            outcomes.forEach((o, j) => check(`${label} #${j}`, expected[j], o, s));
          }
        }

        // The database ends where the model ends: generation and revocation of each session.
        for (const s of model) {
          const [row] = await app.database.rows<{ generation: number; revoked_at: unknown }>('SELECT generation, revoked_at FROM sessions WHERE id = ?', [
            s.id,
          ]);
          assert.equal(Number(row.generation), s.generation, `session ${s.id} generation`);
          assert.equal(row.revoked_at !== null, s.revoked, `session ${s.id} revoked`);
        }
      }),
      { numRuns: 60, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}) },
    );
    // The failing interleaving and the assertion that failed on it (fast-check's own report
    // leaves the assertion out).
    if (outcome.failed) assert.fail(`${fc.defaultReportMessage(outcome)}\n${(outcome.errorInstance as Error)?.message ?? ''}`);
    process.stdout.write(`# ${runs} runs, ${successes} working refreshes, ${failures} refused, as the model predicted\n`);
    assert.ok(successes > 100 && failures > 50, 'the generated interleavings exercise both outcomes');
  });
});
