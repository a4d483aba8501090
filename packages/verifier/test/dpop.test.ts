import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { InvalidDpopProofError, InvalidRequestError, InvalidTokenError, type Verifier } from '../src';
import { checkDpopProof, publicJwkThumbprint } from '../src/dpop';
import { FakeIssuer } from '../test-support/fake-issuer';
import { verifierFor } from '../test-support/helpers';

interface ClientKey {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

async function clientKey(): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

const URL_ = 'https://api.example.com/things';
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

async function proof(key: ClientKey, token: string | undefined, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = { htm: 'GET', htu: URL_, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...(token && { ath: ath(token) }), ...claims };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header } as never).sign(key.privateKey);
}

function dpopRequest(token: string, dpop: string | string[] | undefined, method = 'GET', url = URL_) {
  return { method, url, headers: { authorization: `DPoP ${token}`, dpop } };
}

describe('DPoP-bound tokens (RFC 9449)', () => {
  let issuer: FakeIssuer;
  let client: ClientKey;
  let token: string;
  let verifier: Verifier;

  before(async () => {
    issuer = await FakeIssuer.start();
    client = await clientKey();
    token = await issuer.token({ cnf: { jkt: client.jkt } });
  });
  after(() => issuer.close());

  const refusedWith = async (request: ReturnType<typeof dpopRequest>, type: new (...args: never[]) => Error, message?: RegExp) => {
    const error = await verifier.authenticate(request).then(() => assert.fail('accepted'), (e: unknown) => e);
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    if (message) assert.match(error.message, message);
    return error;
  };

  test('a valid proof is accepted; htu is compared without query and fragment', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    const claims = await verifier.authenticate(dpopRequest(token, await proof(client, token)));
    assert.deepEqual(claims.cnf, { jkt: client.jkt });
    await verifier.authenticate(dpopRequest(token, await proof(client, token), 'GET', `${URL_}?page=2#top`));
    await verifier.authenticate(dpopRequest(token, await proof(client, token, { htm: 'POST' }), 'POST'));
  });

  test('a proof signed by another key is refused', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    const error = await refusedWith(dpopRequest(token, await proof(await clientKey(), token)), InvalidDpopProofError, /key/);
    assert.equal(error instanceof InvalidDpopProofError && error.status, 401);
    assert.match((error as InvalidDpopProofError).wwwAuthenticate!, /^DPoP error="invalid_dpop_proof", algs="[^"]*ES256/);
  });

  test('a proof for another URL or method is refused', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    await refusedWith(dpopRequest(token, await proof(client, token, { htu: 'https://api.example.com/other' })), InvalidDpopProofError, /URL/);
    await refusedWith(dpopRequest(token, await proof(client, token, { htu: 'https://evil.example.com/things' })), InvalidDpopProofError, /URL/);
    await refusedWith(dpopRequest(token, await proof(client, token, { htm: 'POST' })), InvalidDpopProofError, /method/);
  });

  test('a replayed proof is refused', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    const once = await proof(client, token);
    await verifier.authenticate(dpopRequest(token, once));
    await refusedWith(dpopRequest(token, once), InvalidDpopProofError, /already used/);
  });

  test('ath must be present and be the hash of this token', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    await refusedWith(dpopRequest(token, await proof(client, undefined)), InvalidDpopProofError, /not for this access token/);
    const other = await issuer.token({ cnf: { jkt: client.jkt } });
    await refusedWith(dpopRequest(token, await proof(client, other)), InvalidDpopProofError, /not for this access token/);
  });

  test('old, future or unsigned-looking proofs are refused', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    const now = Math.floor(Date.now() / 1000);
    await refusedWith(dpopRequest(token, await proof(client, token, { iat: now - 600 })), InvalidDpopProofError, /too old/);
    await refusedWith(dpopRequest(token, await proof(client, token, { iat: now + 600 })), InvalidDpopProofError, /too old or from the future/);
    await refusedWith(dpopRequest(token, await proof(client, token, {}, { typ: 'JWT' })), InvalidDpopProofError, /typ/);
    const privateJwk = { ...(await exportJWK(client.privateKey)) };
    await refusedWith(dpopRequest(token, await proof(client, token, {}, { jwk: privateJwk })), InvalidDpopProofError);
  });

  test('a bound token sent as Bearer is refused, and a missing proof too', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    const asBearer = await verifier.authenticate({ method: 'GET', url: URL_, headers: { authorization: `Bearer ${token}`, dpop: await proof(client, token) } }).catch((e: unknown) => e);
    assert.ok(asBearer instanceof InvalidTokenError);
    assert.match(asBearer.wwwAuthenticate!, /^DPoP error="invalid_token"/);
    await refusedWith(dpopRequest(token, undefined), InvalidDpopProofError, /required/);
    await refusedWith(dpopRequest(token, [await proof(client, token), await proof(client, token)]), InvalidRequestError);
  });

  test('an unbound token sent with the DPoP scheme is refused', async (t) => {
    verifier = verifierFor(t, issuer);
    await verifier.ready();
    const plain = await issuer.token();
    await refusedWith(dpopRequest(plain, await proof(client, plain)), InvalidTokenError, /not DPoP-bound/);
    assert.equal((await verifier.authenticate({ method: 'GET', url: URL_, headers: { authorization: `Bearer ${plain}` } })).sub, 'user-1');
  });
});

describe('publicJwkThumbprint', () => {
  test('is RFC 7638, as jose computes it, for EC, OKP and RSA public keys', async () => {
    for (const alg of ['ES256', 'ES384', 'EdDSA', 'RS256'] as const) {
      const { publicKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), alg, use: 'sig', kid: 'extra members are not hashed' };
      assert.equal(publicJwkThumbprint(jwk), await calculateJwkThumbprint(jwk, 'sha256'), alg);
    }
  });

  test('refuses private and symmetric keys, and malformed ones', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    assert.equal(publicJwkThumbprint(await exportJWK(privateKey)), null, 'a private EC key');
    assert.equal(publicJwkThumbprint({ kty: 'oct', k: 'c2VjcmV0' }), null);
    assert.equal(publicJwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'AA' }), null, 'y missing');
    assert.equal(publicJwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'AA', y: 1 }), null);
    assert.equal(publicJwkThumbprint('{"kty":"EC"}'), null);
    assert.equal(publicJwkThumbprint(null), null);
  });
});

describe('the imported-key cache', () => {
  test('a proof whose header adds key_ops to a known key cannot spoil that key for later proofs', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const window = { maxAge: 60, clockTolerance: 5, now: () => Date.now() };
    const url = 'https://auth.example.com/auth/token';
    const sign = (header: Record<string, unknown>) =>
      new SignJWT({ htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', ...header } as never).sign(privateKey);
    // An attacker replays the victim's public key with unusable key_ops, first.
    await checkDpopProof({ proof: await sign({ jwk: { ...jwk, key_ops: [] } }), method: 'POST', url }, window).catch(() => undefined);
    const checked = await checkDpopProof({ proof: await sign({ jwk }), method: 'POST', url }, window);
    assert.equal(checked.jkt, await calculateJwkThumbprint(jwk, 'sha256'));
  });
});
