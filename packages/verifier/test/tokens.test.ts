import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { InvalidTokenError, ServiceUnavailableError, type AccessTokenClaims } from '../src';
import { FakeIssuer, type SigningKey } from '../test-support/fake-issuer';
import { Clock, verifierFor } from '../test-support/helpers';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function refused(promise: Promise<unknown>, message?: RegExp): Promise<InvalidTokenError> {
  const error = await promise.then(
    () => assert.fail('the token was accepted'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InvalidTokenError, `expected InvalidTokenError, got ${String(error)}`);
  if (message) assert.match(error.message, message);
  return error;
}

describe('access token checks', () => {
  let issuer: FakeIssuer;
  let rsa: SigningKey;
  let ed: SigningKey;

  before(async () => {
    issuer = await FakeIssuer.start();
    rsa = await issuer.addKey('RS256');
    ed = await issuer.addKey('EdDSA');
  });
  after(() => issuer.close());

  test('a valid token gives its claims, and nothing else', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const token = await issuer.token({ sub: 'u-42', sid: 's-42', role: 'admin', extra: 'ignored' });
    const claims = await verifier.verify(token);
    assert.deepEqual(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'role', 'sid', 'sub']);
    assert.equal(claims.sub, 'u-42');
    assert.equal(claims.sid, 's-42');
    assert.equal(claims.role, 'admin');
    assert.equal(claims.iss, issuer.issuer);
    assert.ok(Object.isFrozen(claims));
  });

  test('ES256, EdDSA and RS256 tokens all verify against their own keys', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    for (const key of [issuer.defaultKey, ed, rsa]) {
      const claims = await verifier.verify(await issuer.token({ sub: key.alg }, { key }));
      assert.equal(claims.sub, key.alg);
    }
  });

  test('alg none is refused', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt', kid: issuer.defaultKey.kid })}.${b64({ iss: issuer.issuer, aud: issuer.audience, sub: 'u', sid: 's', jti: 'j', role: 'admin', iat: now, exp: now + 60 })}.`;
    await refused(verifier.verify(unsigned), /algorithm/);
  });

  test('HS256 with the RSA public key as the secret is refused', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const pem = createPublicKey({ key: rsa.jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid })}.${b64({ iss: issuer.issuer, aud: issuer.audience, sub: 'u', sid: 's', jti: 'j', role: 'admin', iat: now, exp: now + 60 })}`;
    const forged = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    await refused(verifier.verify(forged), /algorithm/);
  });

  test("a header alg other than the key's own is refused", async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    // Signed by the RSA key but naming the EC key: the key decides the algorithm, not the token.
    const token = await issuer.token({}, { key: rsa, header: { kid: issuer.defaultKey.kid } });
    await refused(verifier.verify(token), /does not match/);
  });

  test('the typ must be at+jwt (or application/at+jwt)', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    await refused(verifier.verify(await issuer.token({}, { header: { typ: 'JWT' } })), /typ/);
    await refused(verifier.verify(await issuer.token({}, { header: { typ: 'secevent+jwt' } })), /typ/);
    assert.equal((await verifier.verify(await issuer.token({ sub: 'full' }, { header: { typ: 'application/at+jwt' } }))).sub, 'full');
  });

  test('another audience or issuer is refused', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    await refused(verifier.verify(await issuer.token({ aud: 'some-other-api' })));
    await refused(verifier.verify(await issuer.token({ iss: 'https://evil.example' })));
  });

  test('a tampered payload fails the signature check', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const [header, payload, signature] = (await issuer.token({ role: 'user' })).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    await refused(verifier.verify(`${header}.${b64({ ...claims, role: 'admin' })}.${signature}`), /invalid/);
  });

  test('sub, sid and role must be there and well typed', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    await refused(verifier.verify(await issuer.token({ sid: undefined })));
    await refused(verifier.verify(await issuer.token({ sid: 42 })));
    await refused(verifier.verify(await issuer.token({ sub: undefined })));
    await refused(verifier.verify(await issuer.token({ role: 'root' })));
    await refused(verifier.verify(await issuer.token({ exp: undefined })));
    await refused(verifier.verify(await issuer.token({ cnf: { x5t: 'not-a-jkt' } })));
  });

  test('expiry allows the clock tolerance and no more', async (t) => {
    const clock = new Clock();
    const verifier = verifierFor(t, issuer, { now: clock.now, clockTolerance: 5 });
    await verifier.ready();
    const justExpired = await issuer.token({ sub: 'just' }, { now: clock.seconds - 902 });
    const longExpired = await issuer.token({ sub: 'long' }, { now: clock.seconds - 910 });
    assert.equal((await verifier.verify(justExpired)).sub, 'just');
    await refused(verifier.verify(longExpired), /expired/);
  });

  test('tokens over 4 KiB are refused before any parsing', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const fetches = issuer.jwksFetches;
    const huge = `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 'unknown-kid' })}.${'A'.repeat(5000)}.x`;
    await refused(verifier.verify(huge), /too large/);
    assert.equal(issuer.jwksFetches, fetches, 'an oversized token must not cause a JWKS fetch');
  });

  test('refusals carry the RFC 6750 challenge, and never the token', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    const token = await issuer.token({ aud: 'elsewhere' });
    const error = await refused(verifier.verify(token));
    assert.equal(error.status, 401);
    assert.equal(error.code, 'invalid_token');
    assert.equal(error.wwwAuthenticate, 'Bearer error="invalid_token"');
    assert.deepEqual(error.toJSON(), { statusCode: 401, error: 'invalid_token', message: error.message });
    assert.ok(!error.message.includes(token) && !error.message.includes(token.split('.')[1]));
    const missing = await refused(verifier.authenticate({ method: 'GET', url: 'http://rs/x', headers: {} }));
    assert.equal(missing.wwwAuthenticate, 'Bearer');
    const malformed = await refused(verifier.authenticate({ method: 'GET', url: 'http://rs/x', headers: { authorization: 'Bearer not a token' } }));
    assert.equal(malformed.wwwAuthenticate, 'Bearer error="invalid_token"');
    const basic = await refused(verifier.authenticate({ method: 'GET', url: 'http://rs/x', headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
    assert.equal(basic.wwwAuthenticate, 'Bearer');
  });

  test('verify before the JWKS is known answers 503, not 401', async (t) => {
    const down = await FakeIssuer.start();
    await down.stop();
    const verifier = verifierFor(t, down);
    const error = await verifier.verify(await issuer.token()).catch((e: unknown) => e);
    assert.ok(error instanceof ServiceUnavailableError);
    assert.equal(error.status, 503);
  });
});

describe('verified-token cache', () => {
  let issuer: FakeIssuer;
  before(async () => (issuer = await FakeIssuer.start()));
  after(() => issuer.close());

  test('holds at most tokenCacheSize tokens, whatever the traffic', async (t) => {
    const verifier = verifierFor(t, issuer, { tokenCacheSize: 3 });
    await verifier.ready();
    for (let i = 0; i < 10; i++) await verifier.verify(await issuer.token({ sub: `u${i}` }));
    assert.equal(verifier.status().cachedTokens, 3);
  });

  test('a cached token is refused once it expires', async (t) => {
    const clock = new Clock();
    const verifier = verifierFor(t, issuer, { now: clock.now, clockTolerance: 5 });
    await verifier.ready();
    const token = await issuer.token({}, { now: clock.seconds, lifetime: 60 });
    const first: AccessTokenClaims = await verifier.verify(token);
    assert.equal(verifier.status().cachedTokens, 1);
    assert.equal(await verifier.verify(token), first, 'a repeat is answered from the cache');
    clock.advance(66);
    await refused(verifier.verify(token), /expired/);
  });
});
