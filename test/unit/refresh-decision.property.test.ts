import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChainState, decideRefresh } from '../../src/sessions/refresh-decision';
import { ModelChain, modelChain, step } from '../support/refresh-model';

const RULES = { graceMs: 1000, idleMs: 60_000 };
const TTL_MS = 300_000;

/** Applies a decision to a row the way SessionsService does (the compare-and-swap always wins here). */
function apply(row: ChainState, presented: number, now: number): { ok: true; generation: number } | { ok: false } {
  const decision = decideRefresh(row, presented, now, RULES.graceMs);
  switch (decision) {
    case 'rotate':
      row.generation += 1;
      row.rotatedAt = now;
      row.idleExpiresAt = Math.min(now + RULES.idleMs, row.expiresAt);
      return { ok: true, generation: row.generation };
    case 'grace':
      return { ok: true, generation: row.generation };
    case 'replay':
      row.revokedAt = now;
      return { ok: false };
    default:
      return { ok: false };
  }
}

const ops = fc.array(fc.record({ back: fc.nat(5), dt: fc.constantFrom(0, 500, 1000, 1001, 30_000, 61_000, 250_000), revoke: fc.boolean() }), {
  minLength: 1,
  maxLength: 40,
});

describe('the refresh rule agrees with its model (no database)', () => {
  it('on random sequences of links presented, time passing and revocations', () => {
    fc.assert(
      fc.property(ops, (sequence) => {
        let now = 1_700_000_000_000;
        const model: ModelChain = modelChain(now, TTL_MS, RULES.idleMs);
        const row: ChainState = {
          generation: 0,
          rotatedAt: null,
          revokedAt: null,
          userDisabled: false,
          expiresAt: model.expiresAt,
          idleExpiresAt: model.idleExpiresAt,
          assuranceGeneration: 0,
        };
        for (const op of sequence) {
          now += op.dt;
          if (op.revoke && op.back === 5) {
            model.revoked = true;
            row.revokedAt = now;
            continue;
          }
          const presented = Math.max(0, row.generation - op.back);
          assert.deepEqual(apply(row, presented, now), step(model, presented, now, RULES));
          assert.equal(row.generation, model.generation);
          assert.equal(row.revokedAt !== null, model.revoked);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('names the stale read: a link ahead of the chain is "ahead", never a replay', () => {
    const row: ChainState = { generation: 18, rotatedAt: 0, revokedAt: null, userDisabled: false, expiresAt: 10, idleExpiresAt: 10, assuranceGeneration: 0 };
    assert.equal(decideRefresh(row, 19, 1, 1000), 'ahead');
  });

  it('puts revocation and a disabled user before everything else', () => {
    const live: ChainState = { generation: 3, rotatedAt: 0, revokedAt: null, userDisabled: false, expiresAt: 10, idleExpiresAt: 10, assuranceGeneration: 0 };
    assert.equal(decideRefresh({ ...live, userDisabled: true }, 3, 1, 1000), 'revoked');
    assert.equal(decideRefresh({ ...live, revokedAt: 0 }, 3, 1, 1000), 'revoked');
    assert.equal(decideRefresh(live, 3, 10, 1000), 'expired', 'expired at exactly expiresAt');
  });

  it('never lets a link from before a step-up re-mint the raised chain inside the grace window', () => {
    // A step-up rotated 4 → 5 and raised the assurance at generation 5.
    const raised: ChainState = {
      generation: 5,
      rotatedAt: 100,
      revokedAt: null,
      userDisabled: false,
      expiresAt: 10_000,
      idleExpiresAt: 10_000,
      assuranceGeneration: 5,
    };
    assert.equal(decideRefresh(raised, 4, 200, 1000), 'superseded');
    assert.equal(decideRefresh(raised, 5, 200, 1000), 'rotate');
    // After a later ordinary rotation 5 → 6, link 5 is after the raise: the grace rule applies again.
    assert.equal(decideRefresh({ ...raised, generation: 6 }, 5, 200, 1000), 'grace');
    // Outside the window an older link is a replay, as ever.
    assert.equal(decideRefresh(raised, 4, 5000, 1000), 'replay');
  });
});
