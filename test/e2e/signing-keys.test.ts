import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { SigningKeysService } from '../../src/auth/signing-keys.service';
import { signCompact } from '../../src/common/jws';
import { freshDatabase, startApp, startAppAtOwnUrl, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { Http, PASSWORD, decodeJwt, eventually, login, refresh, register, works } from '../support/http';
import { latchkeyProcess, resourceServerProcess, ServiceProcess } from '../support/processes';
import { addResourceServer, setSession } from '../support/resource-servers';

const ADMIN_EMAIL = 'keys-admin@example.com';
const ADMIN_PASSWORD = 'keys admin password';

for (const alg of ['ES256', 'EdDSA'] as const) {
  describe(`JWT_ALG=${alg} [${TEST_DB}]`, () => {
    let app: TestApp;
    let http: Http;

    before(async () => {
      app = await startAppAtOwnUrl({ JWT_ALG: alg, ADMIN_EMAIL, ADMIN_PASSWORD });
      http = new Http(app.url);
    });
    after(async () => app.close());

    it('signs access tokens with it, publishes the key with its alg, and the guard and plain jose both accept them', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      const { header } = decodeJwt(t.access_token);
      assert.equal(header.alg, alg);
      assert.equal(header.typ, 'at+jwt');
      const jwks = (await http.get('/.well-known/jwks.json')).body.keys;
      const key = jwks.find((k: { kid: string }) => k.kid === header.kid);
      assert.equal(key.alg, alg);
      assert.equal(key.kty, alg === 'ES256' ? 'EC' : 'OKP');
      assert.equal(key.d, undefined, 'never the private part');
      assert.ok(await works(http, t));
      const { payload } = await jose.jwtVerify(t.access_token, jose.createLocalJWKSet({ keys: jwks }), {
        issuer: app.config.jwtIssuer,
        audience: 'latchkey',
        typ: 'at+jwt',
        algorithms: [alg],
      });
      assert.equal(payload.sid, t.session_id);
      const next = await refresh(http, t.refresh_token);
      assert.equal(next.status, 200);
      assert.ok(await works(http, next.body));
      await http.post('/auth/logout', undefined, { token: next.body.access_token });
      assert.equal(await works(http, next.body), false, 'revocation works the same');
    });

    it('refuses the same key presented under another algorithm, and a token with a bad signature', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      const [h, p, s] = t.access_token.split('.');
      const other = alg === 'ES256' ? 'EdDSA' : 'ES256';
      const relabelled = `${Buffer.from(JSON.stringify({ ...decodeJwt(t.access_token).header, alg: other })).toString('base64url')}.${p}.${s}`;
      assert.equal((await http.get('/me', { token: relabelled })).status, 401);
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(t.access_token).payload, role: 'admin' })).toString('base64url')}.${s}`;
      assert.equal((await http.get('/me', { token: tampered })).status, 401);
    });

    it('signs the revocation feed with it too', async () => {
      const rs = await addResourceServer(http, (await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token);
      const user = await register(http);
      const t = await login(http, user.email);
      await http.post('/auth/logout', undefined, { token: t.access_token });
      const jwks = jose.createLocalJWKSet((await http.get('/.well-known/jwks.json')).body);
      await eventually(
        async () =>
          (await http.get('/auth/revocations', { headers: { authorization: rs.basic } })).body.events.some((e: string) => setSession(e) === t.session_id),
        5000,
      );
      const events: string[] = (await http.get('/auth/revocations', { headers: { authorization: rs.basic } })).body.events;
      const mine = events.find((e) => setSession(e) === t.session_id)!;
      const { protectedHeader } = await jose.jwtVerify(mine, jwks, { audience: rs.clientId, typ: 'secevent+jwt', algorithms: [alg] });
      assert.equal(protectedHeader.alg, alg);
    });
  });
}

describe(`changing JWT_ALG is a gradual rotation [${TEST_DB}]`, () => {
  it('keeps tokens of the old algorithm working, publishes a key of the new one at once, and signs with it after the activation delay', async () => {
    const db = freshDatabase();
    const first = await startApp({ JWT_ALG: 'RS256' }, db);
    const http = new Http(first.url);
    const user = await register(http);
    const old = await login(http, user.email);
    assert.equal(decodeJwt(old.access_token).header.alg, 'RS256');
    await first.close();
    const second = await startApp({ JWT_ALG: 'ES256' }, db);
    try {
      const http2 = new Http(second.url);
      assert.ok(await works(http2, old), 'an RS256 token keeps working after the switch');
      const jwks = (await http2.get('/.well-known/jwks.json')).body.keys as Array<{ alg: string }>;
      assert.deepEqual(jwks.map((k) => k.alg).sort(), ['ES256', 'RS256'], 'the new key is published at once, the old one kept');
      const next = await login(http2, user.email);
      assert.equal(decodeJwt(next.access_token).header.alg, 'RS256', 'the old key signs until every cached JWKS can know the new one');
      const [{ alg }] = await second.database.rows<{ alg: string }>('SELECT alg FROM signing_keys WHERE retired_at IS NULL', []);
      assert.equal(alg, 'ES256', 'the new key takes over when the old one retires');
    } finally {
      await second.close();
      await db.drop();
    }
  });
});

describe(`keys:revoke takes a leaked key out of service everywhere [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let a: TestApp;
  // The other instance is a real process: passport keeps one strategy per name per process, so two
  // in-process apps would both verify with the last one started.
  let b: ServiceProcess;
  let rs: ServiceProcess;

  before(async () => {
    db = freshDatabase();
    a = await startAppAtOwnUrl({ ADMIN_EMAIL, ADMIN_PASSWORD }, db);
    b = await (await latchkeyProcess(db, { ADMIN_EMAIL, ADMIN_PASSWORD, JWT_ISSUER: a.config.jwtIssuer })).start();
    const credentials = await addResourceServer(new Http(a.url), (await login(new Http(a.url), ADMIN_EMAIL, ADMIN_PASSWORD)).access_token);
    rs = await (await resourceServerProcess(a.url, credentials)).start();
  });
  after(async () => {
    await rs?.stop();
    await b?.stop();
    await a?.close();
    await db?.drop();
  });

  it('refuses the key on this instance at once, on the other within its poll, and at the resource server; forged tokens die with it; clients refresh onto a new key', async () => {
    const httpA = new Http(a.url);
    const httpB = new Http(b.url);
    const user = await register(httpA);
    const t = await login(httpA, user.email, PASSWORD);
    const leaked = a.app.get(SigningKeysService).signingKey;
    // What a holder of the leaked private key could mint: an admin token for a session that does not exist.
    const now = Math.floor(Date.now() / 1000);
    const forged = signCompact(
      leaked.alg,
      leaked.privateKey,
      { kid: leaked.kid, typ: 'at+jwt' },
      { iss: a.config.jwtIssuer, aud: 'latchkey', sub: user.id, sid: randomUUID(), jti: randomUUID(), iat: now, exp: now + 600, role: 'admin' },
    );
    const orders = (token: string) => fetch(`${rs.url}/orders`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    assert.equal((await httpA.get('/auth/session', { token: forged })).status, 200, 'before: the leaked key mints accepted tokens');
    assert.ok(await works(httpB, t));
    assert.equal(await orders(t.access_token), 200);
    assert.equal(await orders(forged), 200);

    const { replacement } = await a.app.get(SigningKeysService).revoke(leaked.kid);
    assert.ok(replacement, 'it was signing, so a new key took over');
    for (const token of [t.access_token, forged]) assert.equal((await httpA.get('/auth/session', { token })).status, 401, 'refused here at once');
    assert.ok(!(await httpA.get('/.well-known/jwks.json')).text.includes(leaked.kid), 'gone from the JWKS');
    await eventually(async () => (await httpB.get('/auth/session', { token: forged })).status === 401, 5000, 50).catch(() =>
      assert.fail('the other instance still accepts the revoked key'),
    );
    await eventually(async () => (await orders(forged)) === 401 && (await orders(t.access_token)) === 401, 15_000, 100).catch(() =>
      assert.fail('the resource server still accepts the revoked key'),
    );

    const renewed = await refresh(httpB, t.refresh_token);
    assert.equal(renewed.status, 200, 'the refresh token is not affected');
    assert.equal(decodeJwt(renewed.body.access_token).header.kid, replacement);
    assert.ok(await works(httpA, renewed.body));
    await eventually(async () => (await orders(renewed.body.access_token)) === 200, 15_000, 100);
  });
});
