import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { InvalidTokenError } from '../src';
import { FakeIssuer } from '../test-support/fake-issuer';
import { Clock, verifierFor } from '../test-support/helpers';

describe('signing keys', () => {
  let issuer: FakeIssuer;
  before(async () => (issuer = await FakeIssuer.start()));
  after(() => issuer.close());

  test('a key published after start is picked up when a token names it', async (t) => {
    const clock = new Clock();
    const verifier = verifierFor(t, issuer, { now: clock.now, jwksCooldown: 30_000 });
    await verifier.ready();
    const next = await issuer.addKey('ES256');
    clock.advance(31);
    const claims = await verifier.verify(await issuer.token({ sub: 'rotated' }, { key: next, now: clock.seconds }));
    assert.equal(claims.sub, 'rotated');
  });

  test('junk kids cause at most one JWKS fetch per cool-down', async (t) => {
    const clock = new Clock();
    const verifier = verifierFor(t, issuer, { now: clock.now, jwksCooldown: 30_000 });
    await verifier.ready();
    const stranger = await issuer.addKey('ES256', false);
    const junk = () => issuer.token({}, { key: stranger, header: { kid: `junk-${randomUUID()}` }, now: clock.seconds });

    const atReady = issuer.jwksFetches;
    for (let i = 0; i < 20; i++) await assert.rejects(verifier.verify(await junk()), InvalidTokenError);
    assert.equal(issuer.jwksFetches, atReady, 'inside the cool-down that followed the first fetch: no refetch');

    clock.advance(31);
    const tokens = await Promise.all(Array.from({ length: 50 }, junk));
    const results = await Promise.allSettled(tokens.map((token) => verifier.verify(token)));
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof InvalidTokenError));
    assert.equal(issuer.jwksFetches, atReady + 1, 'fifty junk tokens after the cool-down: exactly one refetch');
  });

  test('a key removed from the JWKS stops verifying after refreshKeys(), cached tokens included', async (t) => {
    const doomed = await issuer.addKey('ES256');
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const token = await issuer.token({ sub: 'doomed' }, { key: doomed });
    const survivor = await issuer.token({ sub: 'survivor' });
    await verifier.verify(token);
    await verifier.verify(survivor);
    assert.equal(verifier.status().cachedTokens, 2);

    issuer.unpublish(doomed.kid);
    await verifier.refreshKeys();
    await assert.rejects(verifier.verify(token), /unknown key/);
    await assert.rejects(verifier.verify(await issuer.token({}, { key: doomed })), /unknown key/);
    assert.equal((await verifier.verify(survivor)).sub, 'survivor', 'keys still published keep verifying');
  });
});
