import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Coalesced } from '../../src/common/coalesced';

/** A round the test finishes by hand: `rounds` counts starts, `finish()` ends the running one. */
function controlled(answers: boolean[] = []) {
  let rounds = 0;
  let running = 0;
  let maxRunning = 0;
  const finishers: Array<(error?: Error) => void> = [];
  const work = new Coalesced(
    () =>
      new Promise<boolean>((resolve, reject) => {
        rounds++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        const index = rounds - 1;
        finishers.push((error) => {
          running--;
          if (error) reject(error);
          else resolve(answers[index] ?? false);
        });
      }),
  );
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    work,
    tick,
    get rounds() {
      return rounds;
    },
    get maxRunning() {
      return maxRunning;
    },
    finish: async (error?: Error) => {
      finishers.shift()!(error);
      await tick();
    },
  };
}

describe('Coalesced: one round at a time, and no call left without a round after it', () => {
  it('runs calls made during a round as one more round, never beside it, and resolves them after that round', async () => {
    const c = controlled();
    let firstDone = false;
    let joinedDone = false;
    void c.work.run().then(() => (firstDone = true));
    await c.tick();
    const joined = [c.work.run(), c.work.run(), c.work.run()];
    void Promise.all(joined).then(() => (joinedDone = true));
    assert.equal(c.rounds, 1, 'no second round beside the first');
    await c.finish();
    assert.equal(firstDone, true);
    assert.equal(joinedDone, false, 'the callers that came during the round wait for a round of their own');
    assert.equal(c.rounds, 2, 'three calls during the round: one more round');
    await c.finish();
    assert.equal(joinedDone, true);
    assert.equal(c.maxRunning, 1);
    await c.work.settled();
  });

  it('goes round again while a round says its batch was full', async () => {
    const c = controlled([true, true, false]);
    const done = c.work.run();
    await c.tick();
    await c.finish();
    await c.finish();
    assert.equal(c.rounds, 3);
    await c.finish();
    await done;
    assert.equal(c.rounds, 3, 'stops when a round says there is no more');
  });

  it('a failed round rejects its callers, and the round owed to later callers still runs', async () => {
    const c = controlled();
    const first = c.work.run();
    await c.tick();
    const later = c.work.run();
    const refused = assert.rejects(first, /database down/);
    await c.finish(new Error('database down'));
    await refused;
    assert.equal(c.rounds, 2, 'the later caller gets its round despite the failure');
    await c.finish();
    await later;
  });

  it('settled() waits for the running round and the one owed after it', async () => {
    const c = controlled();
    void c.work.run();
    await c.tick();
    void c.work.run();
    let settled = false;
    void c.work.settled().then(() => (settled = true));
    await c.finish();
    assert.equal(settled, false, 'a round is still owed');
    await c.finish();
    await c.tick();
    assert.equal(settled, true);
  });
});
