import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { InvalidTokenError, ServiceUnavailableError, VerifierConfigurationError, type Verifier } from '../src';
import { FakeIssuer, type FakeIssuerOptions } from '../test-support/fake-issuer';
import { Clock, eventually, verifierFor } from '../test-support/helpers';

async function issuerFor(t: TestContext, options: FakeIssuerOptions = {}): Promise<FakeIssuer> {
  const issuer = await FakeIssuer.start(options);
  t.after(() => issuer.close());
  return issuer;
}

/** Resolves once `token` is refused as revoked; fails after a bounded number of tries. */
function refusedAsRevoked(verifier: Verifier, token: string): Promise<void> {
  return eventually(() => assert.rejects(verifier.verify(token), (e: unknown) => e instanceof InvalidTokenError && /revoked/.test(e.message)));
}

describe('revocation feed', () => {
  test('sessions revoked before start are refused once ready() resolves, read page by page', async (t) => {
    const issuer = await issuerFor(t, { pageSize: 2 });
    const sessions = Array.from({ length: 5 }, () => randomUUID());
    for (const sid of sessions) await issuer.revoke(sid);
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    for (const sid of sessions) await assert.rejects(verifier.verify(await issuer.token({ sid })), /revoked/);
    assert.equal((await verifier.verify(await issuer.token())).sub, 'user-1', 'other sessions still pass');
    assert.equal(verifier.status().revokedSessions, 5);
    assert.equal(verifier.status().cursor, 'c5');
    const firstRead = issuer.feedRequests.filter((r) => !r.accept.includes('event-stream'));
    assert.deepEqual(
      firstRead.map((r) => r.after),
      [null, 'c2', 'c4'],
    );
  });

  test('a session revoked while running is refused, over Server-Sent Events', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { transport: 'stream' });
    await verifier.ready();
    const token = await issuer.token();
    const { sid } = await verifier.verify(token);
    assert.equal(verifier.status().cachedTokens, 1);
    await eventually(() => assert.ok(issuer.feedRequests.some((r) => r.accept.includes('text/event-stream'))));
    await issuer.revoke(sid);
    await refusedAsRevoked(verifier, token);
    const status = verifier.status();
    assert.equal(status.transport, 'stream');
    assert.equal(status.cursor, 'c1');
    assert.ok(status.lastEventAt !== null);
  });

  test('a session revoked while running is refused, over long polling', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { transport: 'poll' });
    await verifier.ready();
    const token = await issuer.token();
    const { sid } = await verifier.verify(token);
    await issuer.revoke(sid);
    await refusedAsRevoked(verifier, token);
    assert.equal(verifier.status().transport, 'poll');
    assert.ok(
      issuer.feedRequests.every((r) => !r.accept.includes('event-stream')),
      'poll transport never asks for a stream',
    );
    assert.ok(
      issuer.feedRequests.some((r) => r.after === 'c0' && r.wait === '25'),
      'long polls wait 25 s after the cursor',
    );
  });

  test('a dropped stream resumes with Last-Event-ID, without reading everything again', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { transport: 'stream' });
    await verifier.ready();
    const first = await issuer.token();
    await issuer.revoke((await verifier.verify(first)).sid);
    await refusedAsRevoked(verifier, first);

    const streamsBefore = issuer.feedRequests.length;
    issuer.dropStreams();
    await eventually(() => assert.ok(issuer.feedRequests.length > streamsBefore, 'the verifier reconnects'));
    const reconnect = issuer.feedRequests[streamsBefore];
    assert.ok(reconnect.accept.includes('text/event-stream'));
    assert.equal(reconnect.lastEventId, 'c1');

    const second = await issuer.token();
    await issuer.revoke((await verifier.verify(second)).sid);
    await refusedAsRevoked(verifier, second);
    assert.equal(issuer.feedRequests.filter((r) => r.after === null && r.lastEventId === undefined).length, 1, 'one full read, at start');
  });

  test('a feed without Server-Sent Events is followed by long polling', async (t) => {
    const issuer = await issuerFor(t, { sse: false });
    const verifier = verifierFor(t, issuer, { transport: 'stream' });
    await verifier.ready();
    await eventually(() => assert.equal(verifier.status().transport, 'poll'));
    const token = await issuer.token();
    await issuer.revoke((await verifier.verify(token)).sid);
    await refusedAsRevoked(verifier, token);
  });

  test('SETs that fail verification are ignored and reported', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const stranger = await issuer.addKey('ES256', false);
    const victims = { aud: await issuer.token(), sig: await issuer.token(), typ: await issuer.token(), iss: await issuer.token() };
    const sid = async (token: string) => (await verifier.verify(token)).sid;

    await issuer.revoke(await sid(victims.aud), { aud: 'another-resource-server' });
    const forged = await issuer.sessionRevokedSet(await sid(victims.sig), { key: stranger });
    // Signed by a key outside the JWKS, but naming a key inside it: the signature cannot match.
    const [, payload, signature] = forged.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: issuer.defaultKey.kid, typ: 'secevent+jwt' })).toString('base64url');
    issuer.append(`${header}.${payload}.${signature}`);
    await issuer.revoke(await sid(victims.typ), { typ: 'at+jwt' });
    await issuer.revoke(await sid(victims.iss), { iss: 'https://evil.example' });
    issuer.append('not-a-jwt');

    // Events are applied in order: once this one is, the bad ones before it have been handled.
    const marker = await issuer.token();
    await issuer.revoke(await sid(marker));
    await refusedAsRevoked(verifier, marker);

    for (const token of Object.values(victims)) assert.equal((await verifier.verify(token)).sub, 'user-1');
    assert.equal(verifier.status().ignoredEvents, 5);
    // No retry could make them verify: they are passed, and hold nothing up (a forger must not stall the feed).
    assert.equal(verifier.status().stale, false);
    assert.equal(verifier.status().cursor, 'c6');
    assert.equal(verifier.log.filter((e) => e.message.includes('event ignored')).length, 5);
  });

  for (const transport of ['stream', 'poll'] as const) {
    test(`an event signed by a key not fetched yet holds the cursor, stale (503), until the JWKS can be read: ${transport}`, async (t) => {
      const issuer = await issuerFor(t);
      const verifier = verifierFor(t, issuer, { transport });
      await verifier.ready();
      const victim = await issuer.token();
      const bystander = await issuer.token();
      const { sid } = await verifier.verify(victim);
      await verifier.verify(bystander);
      if (transport === 'stream') await eventually(() => assert.ok(issuer.feedRequests.some((r) => r.accept.includes('text/event-stream'))));

      // keys:rotate --immediate while the JWKS cannot be read: the revocation comes signed by a key this verifier has never seen.
      const rotated = await issuer.addKey('ES256');
      issuer.jwksAvailable = false;
      const fetchesBefore = issuer.jwksFetches;
      await issuer.revoke(sid, { key: rotated });
      const refusal = await eventually(() =>
        verifier.verify(bystander).then(
          () => assert.fail('accepted while a revocation is held'),
          (e: unknown) => (e instanceof ServiceUnavailableError ? e : Promise.reject(e)),
        ),
      );
      assert.equal(refusal.status, 503);
      await eventually(() => assert.ok(issuer.jwksFetches >= fetchesBefore + 2, 'the JWKS is fetched again, and again'));
      const held = verifier.status();
      assert.equal(held.stale, true);
      assert.equal(held.cursor, 'c0', 'the cursor has not passed the event');
      assert.equal(held.ignoredEvents, 0);
      assert.equal(held.lastError?.code, 'event_unverifiable');
      assert.equal(held.transport, transport, 'a held event is not a failure of the stream');
      await assert.rejects(verifier.verify(victim), ServiceUnavailableError);

      issuer.jwksAvailable = true;
      await refusedAsRevoked(verifier, victim);
      assert.equal((await verifier.verify(bystander)).sub, 'user-1');
      const applied = verifier.status();
      assert.equal(applied.stale, false);
      assert.equal(applied.cursor, 'c1');
      assert.equal(applied.lastError, null);
      assert.equal(applied.ignoredEvents, 0);
    });
  }

  test('fail-open: a held event is reported as stale, and other tokens are still accepted', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { onStale: 'fail-open' });
    await verifier.ready();
    const bystander = await issuer.token();
    issuer.jwksAvailable = false;
    await issuer.revoke(randomUUID(), { key: await issuer.addKey('ES256') });
    await eventually(() => assert.equal(verifier.status().stale, true));
    assert.equal((await verifier.verify(bystander)).sub, 'user-1');
    assert.equal(verifier.status().ignoredEvents, 0);
    issuer.jwksAvailable = true;
    await eventually(() => assert.equal(verifier.status().revokedSessions, 1));
    assert.equal(verifier.status().stale, false);
  });

  test('an event naming an unknown key refetches the JWKS at once, whatever the cool-down', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { jwksCooldown: 3_600_000 });
    await verifier.ready();
    const token = await issuer.token();
    const { sid } = await verifier.verify(token);
    const fetchesBefore = issuer.jwksFetches;
    await issuer.revoke(sid, { key: await issuer.addKey('ES256') });
    await refusedAsRevoked(verifier, token);
    assert.equal(issuer.jwksFetches, fetchesBefore + 1);
    assert.equal(verifier.status().ignoredEvents, 0);
  });

  test('wrong client credentials: ready() rejects, status() and the logger say invalid_client', async (t) => {
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { clientSecret: 'wrong' });
    const error = await eventually(() =>
      verifier.ready().then(
        () => assert.fail('ready() resolved'),
        (e: unknown) => e,
      ),
    );
    assert.ok(error instanceof VerifierConfigurationError);
    assert.equal(error.code, 'invalid_client');
    const { lastError, ready } = verifier.status();
    assert.equal(ready, false);
    assert.equal(lastError?.code, 'invalid_client');
    assert.equal(lastError?.status, 401);
    assert.ok(verifier.log.some((e) => e.level === 'error' && e.details?.code === 'invalid_client'));
  });

  test('the client secret travels form-urlencoded in HTTP Basic (RFC 6749 §2.3.1)', async (t) => {
    const issuer = await issuerFor(t, { clientId: 'rs:1 é', clientSecret: "a+b/c d%e:f!'()*~" });
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    assert.equal(verifier.status().lastError, null);
  });

  test('revoked sessions are forgotten once all their tokens have expired', async (t) => {
    const clock = new Clock();
    const issuer = await issuerFor(t, { tokenLifetime: 600 });
    const verifier = verifierFor(t, issuer, { now: clock.now, clockTolerance: 5 });
    await verifier.ready();
    const token = await issuer.token({}, { now: clock.seconds, lifetime: 600 });
    await issuer.revoke((await verifier.verify(token)).sid, { at: clock.seconds });
    await refusedAsRevoked(verifier, token);
    assert.equal(verifier.status().revokedSessions, 1);

    // Kept while a token of the session could still be valid: lifetime + tolerance + issuer skew allowance.
    clock.advance(600 + 5);
    assert.equal(verifier.status().revokedSessions, 1);
    clock.advance(61);
    assert.equal(verifier.status().revokedSessions, 0);
  });

  test('without a published lifetime, maxTokenLifetime decides, and longer-lived tokens extend it', async (t) => {
    const clock = new Clock();
    const issuer = await issuerFor(t);
    const verifier = verifierFor(t, issuer, { now: clock.now, maxTokenLifetime: 100, clockTolerance: 0, maxStaleness: 1e9 });
    await verifier.ready();
    await issuer.revoke(randomUUID(), { at: clock.seconds });
    await eventually(() => assert.equal(verifier.status().revokedSessions, 1));
    clock.advance(100 + 61);
    assert.equal(verifier.status().revokedSessions, 0);

    await verifier.verify(await issuer.token({}, { now: clock.seconds, lifetime: 1000 }));
    assert.ok(verifier.log.some((e) => e.message.includes('live longer')));
    await issuer.revoke(randomUUID(), { at: clock.seconds });
    await eventually(() => assert.equal(verifier.status().revokedSessions, 1));
    clock.advance(500);
    assert.equal(verifier.status().revokedSessions, 1, 'held for the longer lifetime now');
  });
});
