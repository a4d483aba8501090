import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createVerifier } from '@latchkey/verifier';
import { DpopService } from '../../src/auth/dpop.service';
import { REDIS_URL, startApp, startAppAtOwnUrl, TestApp, TEST_DB, freshDatabase, TestDatabase } from '../support/app';
import { Http, PASSWORD, Reply, Tokens, decodeJwt, login, register } from '../support/http';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';
import { auditCount, sessionRow } from '../support/db';
import { DpopKey, ProofClaims, dpopKey, dpopProof } from '../support/dpop';
import { addResourceServer } from '../support/resource-servers';

const ADMIN_EMAIL = 'dpop-admin@example.com';
const ADMIN_PASSWORD = 'dpop admin password 1';

/** Logs in with a proof by `key`: the session is bound to it. */
async function loginBound(http: Http, key: DpopKey, email: string, extra: Record<string, unknown> = {}): Promise<Tokens & { token_type: string }> {
  const r = await http.post(
    '/auth/login',
    { email, password: PASSWORD, ...extra },
    { headers: { dpop: await dpopProof(key, 'POST', `${http.base}/auth/login`) } },
  );
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** A request with `Authorization: DPoP` and a fresh proof by `key` (claims override any part of it). */
async function call(http: Http, key: DpopKey, token: string, path = '/me', method = 'GET', claims: ProofClaims = {}): Promise<Reply> {
  const proof = await dpopProof(key, method, `${http.base}${path}`, { accessToken: token, ...claims });
  return http.request(method, path, undefined, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
}

/** A refresh, with a proof by `key` when given. */
async function refreshWith(http: Http, refreshToken: string, key?: DpopKey, proof?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (proof ?? key) headers.dpop = proof ?? (await dpopProof(key!, 'POST', `${http.base}/auth/token`));
  return http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, { form: true, headers });
}

/** A GET with a Host header of the caller's choosing (fetch always sends the real one). */
function getWithHost(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: { error?: string } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text || '{}') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertRefusedProof(r: Reply, status: 400 | 401): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.error, 'invalid_dpop_proof');
  if (status === 401) assert.match(r.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_dpop_proof", algs="[^"]*ES256/);
}

describe(`DPoP-bound sessions (RFC 9449) [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const clock = new ShiftedClock();

  before(async () => {
    // At its own URL: the verifier package below discovers it from its issuer.
    app = await startAppAtOwnUrl({ ADMIN_EMAIL, ADMIN_PASSWORD, REFRESH_REUSE_GRACE: '2s' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('publishes the proof algorithms in the metadata', async () => {
    const r = await http.get('/.well-known/oauth-authorization-server');
    assert.ok(r.body.dpop_signing_alg_values_supported.includes('ES256'));
    assert.ok(!r.body.dpop_signing_alg_values_supported.includes('HS256'), 'no symmetric algorithm');
  });

  it('binds a login that carries a proof: token_type DPoP, cnf.jkt in the access token, dpopBound in the session views', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    assert.equal(t.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(t.access_token).payload.cnf, { jkt: key.jkt });
    const rows = await app.database.rows<{ dpop_jkt: string }>('SELECT dpop_jkt FROM sessions WHERE id = ?', [t.session_id]);
    assert.equal(rows[0].dpop_jkt, key.jkt);

    const mine = await call(http, key, t.access_token, '/me/sessions');
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.body.items.find((s: { id: string }) => s.id === t.session_id).dpopBound, true);
    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    const asAdmin = await http.get(`/admin/users/${user.id}/sessions`, { token: admin.access_token });
    assert.equal(asAdmin.body.items.find((s: { id: string }) => s.id === t.session_id).dpopBound, true);

    // A login without a proof stays a plain Bearer session.
    const plain = await login(http, user.email);
    assert.equal((plain as Tokens & { token_type: string }).token_type, 'Bearer');
    assert.equal(decodeJwt(plain.access_token).payload.cnf, undefined);
    const views = await http.get('/me/sessions', { token: plain.access_token });
    assert.equal(views.body.items.find((s: { id: string }) => s.id === plain.session_id).dpopBound, false);
  });

  it("accepts a bound token on latchkey's routes only as DPoP with a fresh proof by its key, for this request and token", async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    assert.equal((await call(http, key, t.access_token)).status, 200);

    const asBearer = await http.get('/me', { token: t.access_token });
    assert.equal(asBearer.status, 401);
    assert.equal(asBearer.body.error, 'invalid_token');
    assert.match(asBearer.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_token"/);

    assertRefusedProof(await http.get('/me', { headers: { authorization: `DPoP ${t.access_token}` } }), 401);
    assertRefusedProof(await call(http, await dpopKey(), t.access_token), 401);
    assertRefusedProof(await call(http, key, t.access_token, '/me', 'GET', { htm: 'POST' }), 401);
    assertRefusedProof(await call(http, key, t.access_token, '/me', 'GET', { htu: `${http.base}/me/sessions` }), 401);
    assertRefusedProof(await call(http, key, t.access_token, '/me', 'GET', { accessToken: 'another.token.value' }), 401);
    assertRefusedProof(await call(http, key, t.access_token, '/me', 'GET', { iat: Math.floor(Date.now() / 1000) - 600 }), 401);

    // The query string is not part of htu (RFC 9449 §4.3).
    const proof = await dpopProof(key, 'GET', `${http.base}/me/sessions`, { accessToken: t.access_token });
    assert.equal((await http.get('/me/sessions?x=1', { headers: { authorization: `DPoP ${t.access_token}`, dpop: proof } })).status, 200);
    // …and a proof is good once.
    assertRefusedProof(await http.get('/me/sessions', { headers: { authorization: `DPoP ${t.access_token}`, dpop: proof } }), 401);

    // A bound admin token without its key learns nothing of its role: 401, not 403.
    const plain = await login(http, user.email);
    assert.equal(
      (
        await http.get('/me', {
          headers: { authorization: `DPoP ${plain.access_token}`, dpop: await dpopProof(key, 'GET', `${http.base}/me`, { accessToken: plain.access_token }) },
        })
      ).status,
      401,
      'an unbound token is refused under the DPoP scheme',
    );
  });

  it('compares htu with the public origin (JWT_ISSUER), never with the Host header the client chose', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    const headers = (proof: string) => ({ host: 'other.example', authorization: `DPoP ${t.access_token}`, dpop: proof });
    // A proof made for another server, sent here with a Host header naming that server.
    const elsewhere = await getWithHost(app.url, '/me', headers(await dpopProof(key, 'GET', 'http://other.example/me', { accessToken: t.access_token })));
    assert.equal(elsewhere.status, 401);
    assert.equal(elsewhere.body.error, 'invalid_dpop_proof');
    // A proof for this server's public URL is good whatever the Host header says.
    const here = await getWithHost(app.url, '/me', headers(await dpopProof(key, 'GET', `${app.config.jwtIssuer}/me`, { accessToken: t.access_token })));
    assert.equal(here.status, 200);
  });

  it('refuses a bound refresh token without its key with 400 invalid_dpop_proof, consuming and revoking nothing, and audits it once', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);

    assertRefusedProof(await refreshWith(http, t.refresh_token), 400);
    assertRefusedProof(await refreshWith(http, t.refresh_token, await dpopKey()), 400);
    const row = await sessionRow(app, t.session_id);
    assert.equal(Number(row.generation), 0, 'the chain did not move');
    assert.equal(row.revoked_at, null);
    assert.equal(
      await auditCount(app, 'invalid_dpop_proof', { sessionId: t.session_id }),
      1,
      'one row a minute per session (sessions-module.test.ts moves the clock)',
    );

    const next = await refreshWith(http, t.refresh_token, key);
    assert.equal(next.status, 200, next.text);
    assert.equal(next.body.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(next.body.access_token).payload.cnf, { jkt: key.jkt });
    assert.equal((await call(http, key, next.body.access_token)).status, 200);
  });

  it('needs the key for the grace rule and for replay detection too: a thief can neither ride the grace window nor sign the victim out', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    const next = await refreshWith(http, t.refresh_token, key);
    assert.equal(next.status, 200);

    // Inside the grace window: the previous link, without the key, gets nothing.
    assertRefusedProof(await refreshWith(http, t.refresh_token), 400);
    // With the key (a second tab of the same device): the same next link, as for any session.
    const again = await refreshWith(http, t.refresh_token, key);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.refresh_token, next.body.refresh_token);

    clock.advance(2100);
    // Past the window, a replay without the key revokes nothing…
    assertRefusedProof(await refreshWith(http, t.refresh_token), 400);
    assert.equal((await sessionRow(app, t.session_id)).revoked_at, null);
    assert.equal(await auditCount(app, 'refresh_token_reuse', { sessionId: t.session_id }), 0);
    // …and with the key it is theft, as for any session.
    const replay = await refreshWith(http, t.refresh_token, key);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    assert.equal((await sessionRow(app, t.session_id)).revoked_reason, 'refresh_token_reuse');
  });

  it('refuses an invalid or replayed proof at login and at refresh before anything happens', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const before = await app.database.rows<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?', [user.id]);
    const wrongUrl = await dpopProof(key, 'POST', `${http.base}/auth/token`);
    assertRefusedProof(await http.post('/auth/login', { email: user.email, password: PASSWORD }, { headers: { dpop: wrongUrl } }), 400);
    assertRefusedProof(await http.post('/auth/login', { email: user.email, password: PASSWORD }, { headers: { dpop: 'not-a-jwt' } }), 400);
    const privateJwk = await dpopProof(key, 'POST', `${http.base}/auth/login`, {}, { jwk: { kty: 'oct', k: 'c2VjcmV0' } });
    assertRefusedProof(await http.post('/auth/login', { email: user.email, password: PASSWORD }, { headers: { dpop: privateJwk } }), 400);
    const after = await app.database.rows<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?', [user.id]);
    assert.equal(Number(after[0].n), Number(before[0].n), 'no session was opened');

    const once = await dpopProof(key, 'POST', `${http.base}/auth/login`);
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD }, { headers: { dpop: once } })).status, 200);
    assertRefusedProof(await http.post('/auth/login', { email: user.email, password: PASSWORD }, { headers: { dpop: once } }), 400);

    const t = await loginBound(http, key, user.email);
    const proof = await dpopProof(key, 'POST', `${http.base}/auth/token`);
    assert.equal((await refreshWith(http, t.refresh_token, undefined, proof)).status, 200);
    assertRefusedProof(await refreshWith(http, t.refresh_token, undefined, proof), 400);
  });

  it('refuses to revoke a bound session (RFC 7009) for a token presented without its key: a copied token cannot sign its owner out', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    assert.equal((await http.post('/auth/revoke', { token: t.refresh_token }, { form: true })).status, 200, 'RFC 7009: the same answer');
    assert.equal((await sessionRow(app, t.session_id)).revoked_at, null, 'and nothing revoked');
    const proof = await dpopProof(key, 'POST', `${http.base}/auth/revoke`);
    assert.equal((await http.post('/auth/revoke', { token: t.refresh_token }, { form: true, headers: { dpop: proof } })).status, 200);
    assert.equal((await sessionRow(app, t.session_id)).revoked_reason, 'user_logout');
  });

  it('keeps an unbound session unbound when a later refresh carries a proof (a binding is made at login only)', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const r = await refreshWith(http, t.refresh_token, await dpopKey());
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(decodeJwt(r.body.access_token).payload.cnf, undefined);
  });

  it("a password change on a bound device keeps the new session bound to the device's key", async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    const proof = await dpopProof(key, 'POST', `${http.base}/me/password`, { accessToken: t.access_token });
    const r = await http.post(
      '/me/password',
      { currentPassword: PASSWORD, newPassword: 'another good password 2' },
      { headers: { authorization: `DPoP ${t.access_token}`, dpop: proof } },
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.token_type, 'DPoP');
    assertRefusedProof(await refreshWith(http, r.body.refresh_token), 400);
    assert.equal((await refreshWith(http, r.body.refresh_token, key)).status, 200);
  });

  it('introspection reports the binding (RFC 9449 §6.2), and the verifier package enforces it on a resource server', async () => {
    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    const rs = await addResourceServer(http, admin.access_token, 'dpop-api');
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    const access = await http.post('/auth/introspect', { token: t.access_token }, { form: true, headers: { authorization: rs.basic } });
    assert.deepEqual(access.body.cnf, { jkt: key.jkt });
    const refreshToken = await http.post('/auth/introspect', { token: t.refresh_token }, { form: true, headers: { authorization: rs.basic } });
    assert.deepEqual(refreshToken.body.cnf, { jkt: key.jkt });

    const verifier = createVerifier({
      issuer: app.config.jwtIssuer,
      audience: app.config.jwtAudience,
      clientId: rs.clientId,
      clientSecret: rs.clientSecret,
      logger: false,
    });
    try {
      await verifier.ready();
      const url = 'https://orders.example.com/orders';
      const ok = await verifier.authenticate({
        method: 'GET',
        url,
        headers: { authorization: `DPoP ${t.access_token}`, dpop: await dpopProof(key, 'GET', url, { accessToken: t.access_token }) },
      });
      assert.equal(ok.sid, t.session_id);
      await assert.rejects(verifier.authenticate({ method: 'GET', url, headers: { authorization: `Bearer ${t.access_token}` } }), /DPoP-bound/);
    } finally {
      await verifier.close();
    }
  });
});

describe(`DPoP replay cache under a flood of junk, without Redis [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const capacity = DpopService.localReplayCapacity;

  before(async () => {
    // A cache of 16 ids: more junk than it holds takes a few dozen requests.
    DpopService.localReplayCapacity = 16;
    app = await startAppAtOwnUrl({ REFRESH_REUSE_GRACE: '30s' });
    http = new Http(app.url);
  });
  after(async () => {
    DpopService.localReplayCapacity = capacity;
    await app?.close();
  });

  it('junk refreshes, junk logins and a signed-in client hammering a route cannot flush a used refresh proof: its replay is still refused', async () => {
    const key = await dpopKey();
    const user = await register(http);
    const t = await loginBound(http, key, user.email);
    // The request an attacker captured: a refresh and its proof.
    const captured = await dpopProof(key, 'POST', `${http.base}/auth/token`);
    assert.equal((await refreshWith(http, t.refresh_token, undefined, captured)).status, 200);

    // Anyone can sign proofs with a key of their own: with refresh tokens that are not authentic, with
    // logins with a wrong password, and, signed in with a bound session of their own, at a route.
    const junkKey = await dpopKey();
    const attacker = await loginBound(http, junkKey, (await register(http)).email);
    const forged = `${t.refresh_token.slice(0, -2)}${t.refresh_token.endsWith('AA') ? 'BB' : 'AA'}`;
    for (let i = 0; i < 24; i++) {
      const refresh = await refreshWith(http, i % 2 ? forged : `junk-${i}`, junkKey);
      assert.equal(refresh.status, 400);
      assert.equal(refresh.body.error, 'invalid_grant');
      const proof = await dpopProof(junkKey, 'POST', `${http.base}/auth/login`);
      assert.equal((await http.post('/auth/login', { email: user.email, password: 'not the password 1' }, { headers: { dpop: proof } })).status, 401);
      assert.equal((await call(http, junkKey, attacker.access_token, '/auth/session')).status, 200);
    }

    // Within the grace window, the captured pair would get the next tokens: the proof is still known as used.
    assertRefusedProof(await refreshWith(http, t.refresh_token, undefined, captured), 400);
    assert.equal((await refreshWith(http, t.refresh_token, key)).status, 200, 'the device itself goes on');
  });
});

describe(`DPOP=required and DPOP=off [${TEST_DB}]`, () => {
  it('required: a login without a proof is refused; with one it is bound', async () => {
    // At its own URL, as a real deployment: a proof names the public origin (JWT_ISSUER).
    const app = await startAppAtOwnUrl({ DPOP: 'required' });
    try {
      const http = new Http(app.url);
      const user = await register(http);
      assertRefusedProof(await http.post('/auth/login', { email: user.email, password: PASSWORD }), 400);
      const t = await loginBound(http, await dpopKey(), user.email);
      assert.equal(t.token_type, 'DPoP');
    } finally {
      await app.close();
    }
  });

  it('off: proofs are ignored, sessions stay Bearer and the metadata names no algorithm', async () => {
    const app = await startAppAtOwnUrl({ DPOP: 'off' });
    try {
      const http = new Http(app.url);
      const user = await register(http);
      const t = await loginBound(http, await dpopKey(), user.email);
      assert.equal(t.token_type, 'Bearer');
      assert.equal(decodeJwt(t.access_token).payload.cnf, undefined);
      assert.equal((await http.get('/.well-known/oauth-authorization-server')).body.dpop_signing_alg_values_supported, undefined);
    } finally {
      await app.close();
    }
  });
});

describe(`DPoP proofs are single-use across instances (Redis) [${TEST_DB}]`, () => {
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;

  before(async () => {
    db = freshDatabase();
    // Both behind one public name, as behind a load balancer: that name is configuration (JWT_ISSUER), and a proof naming it is good at either.
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `lk-dpop-${process.pid}-${Date.now()}:`, JWT_ISSUER: 'https://api.example.test', TRUST_PROXY: 'true' };
    a = await startApp(env, db);
    b = await startApp(env, db);
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  it('a proof used at one instance is refused at the other', async () => {
    const key = await dpopKey();
    // What the load balancer adds changes nothing: the public origin is not read from the request.
    const viaProxy = { 'x-forwarded-host': 'internal-name', 'x-forwarded-proto': 'http' };
    const user = await register(new Http(a.url));
    const loginProof = await dpopProof(key, 'POST', 'https://api.example.test/auth/login');
    const t = (await new Http(a.url).post('/auth/login', { email: user.email, password: PASSWORD }, { headers: { ...viaProxy, dpop: loginProof } })).body;
    assert.equal(t.token_type, 'DPoP');
    const proof = await dpopProof(key, 'GET', 'https://api.example.test/me', { accessToken: t.access_token });
    const headers = { ...viaProxy, authorization: `DPoP ${t.access_token}`, dpop: proof };
    assert.equal((await new Http(a.url).get('/me', { headers })).status, 200);
    assertRefusedProof(await new Http(b.url).get('/me', { headers }), 401);

    // An iat with a fraction (as some clients send) still reaches Redis with a whole-millisecond TTL.
    const fractional = await dpopProof(key, 'GET', 'https://api.example.test/me', { accessToken: t.access_token, iat: Date.now() / 1000 });
    const again = { ...headers, dpop: fractional };
    assert.equal((await new Http(a.url).get('/me', { headers: again })).status, 200);
    assertRefusedProof(await new Http(b.url).get('/me', { headers: again }), 401);

    // A proof for whatever host the request claims to be for, through a trusted proxy's X-Forwarded-Host: refused.
    const forwarded = await dpopProof(key, 'GET', 'https://other.example/me', { accessToken: t.access_token });
    assertRefusedProof(
      await new Http(a.url).get('/me', {
        headers: { 'x-forwarded-host': 'other.example', 'x-forwarded-proto': 'https', authorization: `DPoP ${t.access_token}`, dpop: forwarded },
      }),
      401,
    );
  });
});
