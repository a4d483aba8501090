import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { InvalidTokenError, ServiceUnavailableError } from '../src';
import { FakeIssuer } from '../test-support/fake-issuer';
import { eventually, verifierFor } from '../test-support/helpers';

/** Comments every 50 ms keep a healthy stream well inside a 3 s staleness limit, even on a busy machine. */
const FAST = { heartbeatMs: 50 };
const LIMITS = { maxStaleness: 3000, retry: { minDelay: 20, maxDelay: 100 } };
/** Tries for effects that need the staleness limit to pass first. */
const TRIES = 600; // 15 s: room for the 3 s limit to pass on a loaded runner

async function issuerFor(t: TestContext): Promise<FakeIssuer> {
  const issuer = await FakeIssuer.start(FAST);
  t.after(() => issuer.close());
  return issuer;
}

describe('stale revocation feed', () => {
  test('fail-closed: past maxStaleness verify answers 503 service_unavailable, and recovers with the feed', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { ...LIMITS, onStale: 'fail-closed' });
    await verifier.ready();
    const token = await issuer.token();
    assert.equal((await verifier.verify(token)).sub, 'user-1');
    assert.equal(verifier.status().stale, false);

    await issuer.stop();
    const error = await eventually(
      () =>
        verifier.verify(token).then(
          () => assert.fail('accepted while stale'),
          (e: unknown) => (e instanceof ServiceUnavailableError ? e : Promise.reject(e)),
        ),
      TRIES,
    );
    assert.equal(error.status, 503);
    assert.equal(error.code, 'service_unavailable');
    assert.equal(error.wwwAuthenticate, undefined, 'not a token problem: no invalid_token challenge');
    const status = verifier.status();
    assert.equal(status.stale, true);
    assert.ok(status.lagMs! > LIMITS.maxStaleness);
    assert.notEqual(status.lastError, null);

    await issuer.restart();
    await eventually(async () => assert.equal((await verifier.verify(token)).sub, 'user-1'), TRIES);
    assert.equal(verifier.status().stale, false);
  });

  test('fail-open: a stale feed is reported, and valid tokens are still accepted', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { ...LIMITS, onStale: 'fail-open' });
    await verifier.ready();
    const token = await issuer.token();

    await issuer.stop();
    await eventually(() => assert.equal(verifier.status().stale, true), TRIES);
    assert.equal((await verifier.verify(token)).sub, 'user-1');
    assert.ok(verifier.log.some((e) => e.message.includes('stale')));

    await issuer.restart();
    await eventually(() => assert.equal(verifier.status().stale, false), TRIES);
  });

  test('revocations already known are still enforced while the feed is stale', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { ...LIMITS, onStale: 'fail-open' });
    await verifier.ready();
    const token = await issuer.token();
    await issuer.revoke((await verifier.verify(token)).sid);
    await eventually(() => assert.rejects(verifier.verify(token), /revoked/));

    await issuer.stop();
    await eventually(() => assert.equal(verifier.status().stale, true), TRIES);
    await assert.rejects(verifier.verify(token), InvalidTokenError);
  });
});
