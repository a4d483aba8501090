import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FakeIssuer } from '../test-support/fake-issuer';
import { eventually, verifierFor } from '../test-support/helpers';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('close()', () => {
  for (const transport of ['stream', 'poll'] as const) {
    test(`ends the open ${transport === 'stream' ? 'event stream' : 'long poll'}, even after garbage collections`, async (t) => {
      const issuer = await FakeIssuer.start();
      t.after(() => issuer.close());
      const verifier = verifierFor(t, issuer, { transport });
      await verifier.ready();
      await eventually(() => assert.equal(issuer.openRequests, 1));
      // Node 20's fetch could lose the abort signal of a request once it was collected (nodejs/undici#4627).
      for (let i = 0; i < 200; i++) await verifier.verify(await issuer.token());
      gc();
      gc();
      const closing = verifier.close();
      await eventually(() => assert.equal(issuer.openRequests, 0, 'the server still holds a request of a closed verifier'));
      await closing;
      await assert.rejects(verifier.ready(), /closed/);
    });
  }
});
