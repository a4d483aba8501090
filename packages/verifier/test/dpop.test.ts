import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import Redis from 'ioredis';
import { InvalidDpopProofError, InvalidRequestError, InvalidTokenError, createVerifier, redisReplayStore, type ReplayStore, type Verifier } from '../src';
import { checkDpopProof, publicJwkThumbprint } from '../src/dpop';
import { FakeIssuer } from '../test-support/fake-issuer';
import { verifierFor } from '../test-support/helpers';
import { REDIS_URL, needsRedis } from '../test-support/redis';

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
  const payload: Record<string, unknown> = {
    htm: 'GET',
    htu: URL_,
    iat: Math.floor(Date.now() / 1000),
    jti: randomUUID(),
    ...(token && { ath: ath(token) }),
    ...claims,
  };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header }).sign(key.privateKey);
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
    const error = await verifier.authenticate(request).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
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
    const asBearer = await verifier
      .authenticate({ method: 'GET', url: URL_, headers: { authorization: `Bearer ${token}`, dpop: await proof(client, token) } })
      .catch((e: unknown) => e);
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

describe('DPoP: the public origin is configuration, not a header', () => {
  let issuer: FakeIssuer;
  let client: ClientKey;
  let token: string;
  before(async () => {
    issuer = await FakeIssuer.start();
    client = await clientKey();
    token = await issuer.token({ cnf: { jkt: client.jkt } });
  });
  after(() => issuer.close());

  test('with origin set, htu must name it, whatever Host the request came with', async (t) => {
    const verifier = verifierFor(t, issuer, { origin: 'https://api.example.com' });
    await verifier.ready();
    // Behind a proxy the adapters see the internal name; the client addressed the public one.
    const internal = 'http://10.0.0.7:8080/things';
    assert.equal((await verifier.authenticate(dpopRequest(token, await proof(client, token), 'GET', internal))).sub, 'user-1');
    assert.equal((await verifier.authenticate(dpopRequest(token, await proof(client, token), 'GET', `${internal}?page=2`))).sub, 'user-1');
    // A proof made for another server, sent with a Host header naming that server: refused.
    const elsewhere = await proof(client, token, { htu: 'https://other.example.com/things' });
    const error = await verifier.authenticate(dpopRequest(token, elsewhere, 'GET', 'https://other.example.com/things')).catch((e: unknown) => e);
    assert.ok(error instanceof InvalidDpopProofError && /another URL/.test(error.message), String(error));
    assert.ok(!verifier.log.some((e) => e.message.includes('"origin"')), 'no warning when origin is set');
  });

  test('without origin, the request URL is used and a warning says to set it, once', async (t) => {
    const verifier = verifierFor(t, issuer);
    await verifier.ready();
    await verifier.authenticate(dpopRequest(token, await proof(client, token)));
    await verifier.authenticate(dpopRequest(token, await proof(client, token)));
    assert.equal(verifier.log.filter((e) => e.message.includes('"origin"')).length, 1);
  });

  test('origin must be a bare http(s) origin', () => {
    for (const origin of ['https://api.example.com/v1', 'api.example.com', 'ftp://api.example.com', 'https://api.example.com?x=1']) {
      assert.throws(() => createVerifier({ ...issuer.verifierOptions, origin, logger: false }), TypeError, origin);
    }
    for (const origin of ['https://api.example.com', 'https://API.example.com/', 'http://127.0.0.1:8080']) {
      void createVerifier({ ...issuer.verifierOptions, origin, logger: false }).close();
    }
  });

  test('a replay store that fails is reported, and replays are then refused per instance', async (t) => {
    const broken: ReplayStore = { setIfAbsent: () => Promise.reject(new Error('connection refused')) };
    const verifier = verifierFor(t, issuer, { origin: 'https://api.example.com', dpop: { replayStore: broken } });
    await verifier.ready();
    const once = await proof(client, token);
    assert.equal((await verifier.authenticate(dpopRequest(token, once))).sub, 'user-1');
    await assert.rejects(verifier.authenticate(dpopRequest(token, once)), /already used/);
    assert.ok(verifier.log.some((e) => e.message.includes('replay store unavailable') && e.details?.error === 'connection refused'));
  });
});

describe('DPoP: a replay store shared through Redis', async () => {
  const skip = await needsRedis();
  let issuer: FakeIssuer;
  let client: ClientKey;
  let token: string;
  let redis: Redis;
  const prefix = `latchkey-verifier-test-${process.pid}-${randomUUID()}:`;
  before(async () => {
    if (skip) return;
    issuer = await FakeIssuer.start();
    client = await clientKey();
    token = await issuer.token({ cnf: { jkt: client.jkt } });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    if (skip) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await issuer.close();
  });

  test('a proof used at one instance is refused at another; without the store it would pass', { skip }, async (t) => {
    const shared = redisReplayStore(redis, { prefix });
    const a = verifierFor(t, issuer, { origin: 'https://api.example.com', dpop: { replayStore: shared } });
    const b = verifierFor(t, issuer, { origin: 'https://api.example.com', dpop: { replayStore: shared } });
    const alone = verifierFor(t, issuer, { origin: 'https://api.example.com' });
    await Promise.all([a.ready(), b.ready(), alone.ready()]);

    const once = await proof(client, token);
    assert.equal((await a.authenticate(dpopRequest(token, once))).sub, 'user-1');
    await assert.rejects(b.authenticate(dpopRequest(token, once)), (e: unknown) => e instanceof InvalidDpopProofError && /already used/.test(e.message));
    assert.equal((await alone.authenticate(dpopRequest(token, once))).sub, 'user-1', 'an instance without the store cannot know');

    // The id lives in Redis only as long as the proof could be accepted (maxAge + tolerance), in whole milliseconds.
    const keys = await redis.keys(`${prefix}*`);
    assert.equal(keys.length, 1);
    const ttl = await redis.pttl(keys[0]);
    assert.ok(ttl > 0 && ttl <= (60 + 5) * 1000, `pttl ${ttl}`);

    // An iat with a fraction (as some clients send) still gives Redis a whole-millisecond TTL.
    const fractional = await proof(client, token, { iat: Date.now() / 1000 });
    assert.equal((await a.authenticate(dpopRequest(token, fractional))).sub, 'user-1');
    await assert.rejects(b.authenticate(dpopRequest(token, fractional)), /already used/);
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
      new SignJWT({ htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', ...header })
        .sign(privateKey);
    // An attacker replays the victim's public key with unusable key_ops, first.
    await checkDpopProof({ proof: await sign({ jwk: { ...jwk, key_ops: [] } }), method: 'POST', url }, window).catch(() => undefined);
    const checked = await checkDpopProof({ proof: await sign({ jwk }), method: 'POST', url }, window);
    assert.equal(checked.jkt, await calculateJwkThumbprint(jwk, 'sha256'));
  });
});
