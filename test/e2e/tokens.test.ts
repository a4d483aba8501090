import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import * as jwt from 'jsonwebtoken';
import * as jose from 'jose';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, decodeJwt, login, refresh, register, uniqueEmail, works } from '../support/http';
import { auditCount, sessionRow } from '../support/db';
import { SigningKeysService } from '../../src/auth/signing-keys.service';
import { Clock } from '../../src/common/clock';
import { FakeClock, ShiftedClock } from '../support/clock';

describe(`token pairs [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const clock = new ShiftedClock();

  before(async () => {
    // RS256 on purpose: the algorithm-confusion cases below (HS256 with the public key) are RSA's; ES256 and EdDSA have their own suites (signing-keys.test.ts).
    // A grace window wide enough that 10 concurrent refreshes queued on one row all land inside it on a loaded runner.
    app = await startApp({ REFRESH_REUSE_GRACE: '3s', JWT_ALG: 'RS256' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
  });
  after(async () => app.close());

  describe('login', () => {
    it('returns the token response with an at+jwt access token carrying the contract claims', async () => {
      const user = await register(http);
      const r = await http.post('/auth/login', { email: user.email.toUpperCase(), password: PASSWORD, deviceName: 'Laptop' });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const t = r.body;
      assert.equal(t.token_type, 'Bearer');
      assert.equal(t.expires_in, 900);
      assert.equal(t.refresh_token_expires_in, 30 * 86400);
      assert.equal(typeof t.refresh_token, 'string');
      assert.ok(t.refresh_token.length >= 43, 'at least 256 bits');
      assert.match(t.refresh_token, /^[A-Za-z0-9._~-]+$/, 'URL-safe');
      assert.equal(t.user.id, user.id);
      assert.ok(!r.text.includes('$argon2'));
      const { header, payload } = decodeJwt(t.access_token);
      assert.equal(header.typ, 'at+jwt');
      assert.equal(header.alg, 'RS256');
      assert.equal(typeof header.kid, 'string');
      assert.equal(payload.iss, 'http://localhost:3000');
      assert.equal(payload.aud, 'latchkey');
      assert.equal(payload.sub, user.id);
      assert.equal(payload.sid, t.session_id);
      assert.equal(payload.role, 'user');
      assert.equal(typeof payload.jti, 'string');
      assert.equal(payload.exp - payload.iat, 900);
      const rows = await app.database.rows<{ last_login_at: unknown; device_name: string; user_agent: string; ip: string }>(
        'SELECT u.last_login_at, s.device_name, s.user_agent, s.ip FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.id = ?',
        [t.session_id],
      );
      assert.ok(Number(rows[0].last_login_at) > 0, 'lastLoginAt is recorded');
      assert.equal(rows[0].device_name, 'Laptop');
      assert.equal(rows[0].ip, '127.0.0.1');
      assert.ok(rows[0].user_agent, 'user agent recorded');
      assert.equal(await auditCount(app, 'login_succeeded', { sessionId: t.session_id }), 1);
    });

    it('generates a deviceId when absent and keeps the one given', async () => {
      const user = await register(http);
      const a = await login(http, user.email);
      assert.match(a.device_id, /^[0-9a-f-]{36}$/);
      const b = await login(http, user.email, PASSWORD, { deviceId: 'my-phone-install-1' });
      assert.equal(b.device_id, 'my-phone-install-1');
    });

    it('answers an unknown e-mail and a wrong password identically, and records login_failed', async () => {
      const user = await register(http);
      const before = await auditCount(app, 'login_failed');
      const wrong = await http.post('/auth/login', { email: user.email, password: 'not the password' });
      const unknown = await http.post('/auth/login', { email: uniqueEmail('ghost'), password: 'not the password' });
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.deepEqual(wrong.body, unknown.body);
      assert.equal(wrong.body.error, 'invalid_credentials');
      assert.equal(await auditCount(app, 'login_failed'), before + 2);
      const rows = await app.database.rows<{ user_id: string | null }>("SELECT user_id FROM audit_events WHERE type = 'login_failed' AND user_id = ?", [
        user.id,
      ]);
      assert.equal(rows.length, 1, 'a known e-mail carries its userId');
    });

    it('replaces the session of a device that logs in again (device_relogin)', async () => {
      const user = await register(http);
      const first = await login(http, user.email, PASSWORD, { deviceId: 'device-relogin-1' });
      const second = await login(http, user.email, PASSWORD, { deviceId: 'device-relogin-1' });
      assert.notEqual(first.session_id, second.session_id);
      assert.equal((await sessionRow(app, first.session_id)).revoked_reason, 'device_relogin');
      assert.equal((await http.get('/me', { token: first.access_token })).status, 401);
      assert.equal((await refresh(http, first.refresh_token)).body.error, 'invalid_grant');
      assert.equal((await http.get('/me', { token: second.access_token })).status, 200);
      const list = await http.get('/me/sessions', { token: second.access_token });
      assert.equal(list.body.items.length, 1);
    });
  });

  describe('access-token guard', () => {
    let tokens: Awaited<ReturnType<typeof login>>;
    let privateKey: import('node:crypto').KeyObject;
    let kid: string;

    before(async () => {
      const user = await register(http);
      tokens = await login(http, user.email);
      ({ privateKey, kid } = app.app.get(SigningKeysService).signingKey);
    });

    const sign = (payload: object, options: jwt.SignOptions) =>
      jwt.sign(payload, privateKey, { algorithm: 'RS256', header: { alg: 'RS256', typ: 'at+jwt', kid }, ...options });

    const claims = () => {
      const { payload } = decodeJwt(tokens.access_token);
      return { sub: payload.sub, sid: payload.sid, role: payload.role };
    };
    const good: jwt.SignOptions = { issuer: 'http://localhost:3000', audience: 'latchkey', expiresIn: 60, jwtid: 'test-jti' };

    it('accepts a well-formed token and GET /me answers the contract fields', async () => {
      const r = await http.get('/me', { token: tokens.access_token });
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.body).sort(), ['createdAt', 'email', 'emailVerified', 'id', 'name', 'passwordChangedAt', 'role']);
      assert.equal(
        (await http.get('/me', { token: sign(claims(), good) })).status,
        200,
        'a token we sign ourselves in the test is accepted: the negative cases below are meaningful',
      );
    });

    it('answers 401 with WWW-Authenticate: Bearer when no token is sent', async () => {
      const r = await http.get('/me');
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.equal(r.body.error, 'invalid_token');
    });

    it('answers plain Bearer when the credential is not a bearer token at all', async () => {
      const r = await http.get('/me', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    });

    const { jwtid: _jti, ...withoutJti } = good;
    const rejected: Array<[string, () => string]> = [
      ['an expired token', () => sign(claims(), { ...good, expiresIn: -10 })],
      ['a token without jti (latchkey always sets one)', () => sign(claims(), withoutJti)],
      ['a wrong audience', () => sign(claims(), { ...good, audience: 'someone-else' })],
      ['a wrong issuer', () => sign(claims(), { ...good, issuer: 'https://evil.example' })],
      ['a wrong typ', () => jwt.sign(claims(), privateKey, { ...good, algorithm: 'RS256', header: { alg: 'RS256', typ: 'JWT', kid } })],
      ['an unknown kid', () => jwt.sign(claims(), privateKey, { ...good, algorithm: 'RS256', header: { alg: 'RS256', typ: 'at+jwt', kid: 'unknown-kid' } })],
      ['no kid', () => jwt.sign(claims(), privateKey, { ...good, algorithm: 'RS256', header: { alg: 'RS256', typ: 'at+jwt' } })],
      [
        'alg none',
        () => {
          const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid })).toString('base64url');
          const p = Buffer.from(
            JSON.stringify({ ...claims(), iss: 'http://localhost:3000', aud: 'latchkey', exp: Math.floor(Date.now() / 1000) + 60 }),
          ).toString('base64url');
          return `${h}.${p}.`;
        },
      ],
      [
        'HS256 with the public key as the secret (algorithm confusion)',
        () => {
          const pem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
          const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid })).toString('base64url');
          const p = Buffer.from(
            JSON.stringify({ ...claims(), iss: 'http://localhost:3000', aud: 'latchkey', exp: Math.floor(Date.now() / 1000) + 60 }),
          ).toString('base64url');
          return `${h}.${p}.${createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url')}`;
        },
      ],
      [
        'a tampered payload',
        () => {
          const [h, p, s] = tokens.access_token.split('.');
          const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
          payload.role = 'admin';
          return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
        },
      ],
      [
        'a token signed by another key with the same kid',
        () =>
          jwt.sign(claims(), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, {
            ...good,
            algorithm: 'RS256',
            header: { alg: 'RS256', typ: 'at+jwt', kid },
          }),
      ],
      ['a role outside the contract', () => sign({ ...claims(), role: 'root' }, good)],
      ['garbage', () => 'not.a.jwt'],
      ['a huge token', () => 'a'.repeat(5000) + '.' + 'b'.repeat(5000) + '.c'],
    ];
    for (const [label, make] of rejected) {
      it(`rejects ${label} with 401 and Bearer error="invalid_token"`, async () => {
        const r = await http.get('/me', { token: make() });
        assert.equal(r.status, 401, r.text);
        assert.equal(r.body.error, 'invalid_token');
        assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      });
    }

    it('verifies with jose against the served JWKS, as an outside resource server would', async () => {
      const jwks = jose.createRemoteJWKSet(new URL(`${app.url}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, {
        issuer: 'http://localhost:3000',
        audience: 'latchkey',
        typ: 'at+jwt',
        algorithms: ['RS256'],
      });
      assert.equal(payload.sid, tokens.session_id);
      assert.equal(protectedHeader.kid, kid);
      const doc = await http.get('/.well-known/jwks.json');
      for (const key of doc.body.keys) {
        assert.equal(key.use, 'sig');
        assert.equal(key.alg, 'RS256');
        assert.ok(key.kid);
        assert.equal(key.d, undefined, 'never a private part');
      }
    });

    it('serves RFC 8414 metadata', async () => {
      const r = await http.get('/.well-known/oauth-authorization-server');
      assert.equal(r.body.issuer, 'http://localhost:3000');
      assert.equal(r.body.token_endpoint, 'http://localhost:3000/auth/token');
      assert.equal(r.body.revocation_endpoint, 'http://localhost:3000/auth/revoke');
      assert.equal(r.body.jwks_uri, 'http://localhost:3000/.well-known/jwks.json');
      assert.deepEqual(r.body.grant_types_supported, ['refresh_token']);
      assert.deepEqual(r.body.token_endpoint_auth_methods_supported, ['none']);
      assert.deepEqual(r.body.acr_values_supported, ['aal1', 'aal2']);
    });
  });

  describe('refresh', () => {
    it('rotates on every use; the presented token stops working after the grace window', async () => {
      const user = await register(http);
      const t0 = await login(http, user.email);
      const r1 = await refresh(http, t0.refresh_token);
      assert.equal(r1.status, 200);
      assert.equal(r1.headers.get('cache-control'), 'no-store');
      assert.notEqual(r1.body.refresh_token, t0.refresh_token);
      assert.equal(r1.body.session_id, t0.session_id);
      assert.equal(r1.body.device_id, t0.device_id);
      assert.notEqual(r1.body.access_token, t0.access_token);
      const r2 = await refresh(http, r1.body.refresh_token);
      assert.equal(r2.status, 200);
      assert.equal((await http.get('/me', { token: r2.body.access_token })).status, 200);
    });

    it('takes JSON as well as form bodies', async () => {
      const user = await register(http);
      const t0 = await login(http, user.email);
      const r = await http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: t0.refresh_token });
      assert.equal(r.status, 200);
    });

    it('lets 10 concurrent refreshes with one token all succeed and leaves a working chain', async () => {
      const user = await register(http);
      const t0 = await login(http, user.email);
      const results = await Promise.all(Array.from({ length: 10 }, () => refresh(http, t0.refresh_token)));
      for (const r of results) assert.equal(r.status, 200, r.text);
      const next = new Set(results.map((r) => r.body.refresh_token));
      assert.equal(next.size, 1, 'every caller got the same next link');
      const [token] = next;
      let current = token;
      for (let i = 0; i < 3; i++) {
        const r = await refresh(http, current);
        assert.equal(r.status, 200);
        current = r.body.refresh_token;
      }
      assert.equal((await sessionRow(app, t0.session_id)).revoked_at, null, 'no session was revoked');
      for (const r of results) assert.equal((await http.get('/me', { token: r.body.access_token })).status, 200);
      assert.equal(await auditCount(app, 'refresh_token_reuse', { sessionId: t0.session_id }), 0);
    });

    it('treats a replay after the grace window as theft: the session dies, with its newest tokens', async () => {
      const user = await register(http);
      const t0 = await login(http, user.email);
      const r1 = await refresh(http, t0.refresh_token);
      assert.equal(r1.status, 200);
      clock.advance(3300);
      const replay = await refresh(http, t0.refresh_token);
      assert.equal(replay.status, 400);
      assert.equal(replay.body.error, 'invalid_grant');
      assert.equal(typeof replay.body.error_description, 'string');
      const row = await sessionRow(app, t0.session_id);
      assert.notEqual(row.revoked_at, null);
      assert.equal(row.revoked_reason, 'refresh_token_reuse');
      assert.equal((await refresh(http, r1.body.refresh_token)).status, 400, 'the newest link fails too');
      assert.equal((await http.get('/me', { token: r1.body.access_token })).status, 401, 'access tokens of that session fail at once');
      assert.equal((await http.get('/me', { token: t0.access_token })).status, 401);
      assert.equal(await auditCount(app, 'refresh_token_reuse', { sessionId: t0.session_id }), 1);
      assert.equal(await auditCount(app, 'session_revoked', { sessionId: t0.session_id }), 1);
    });

    it('changes nothing for forged tokens, including a real session id with guessed generations', async () => {
      const user = await register(http);
      const t0 = await login(http, user.email);
      const r1 = await refresh(http, t0.refresh_token);
      const real = r1.body.refresh_token;
      const [sid, gen, keyId, mac] = real.split('.');
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      const forged = [
        randomBytes(32).toString('base64url'),
        'x',
        flip(real, real.length - 5),
        flip(real, 3),
        `${sid}.0.${keyId}.${mac}`,
        `${sid}.${gen}.${keyId}.${randomBytes(32).toString('base64url')}`,
        ...[0, 1, 2, 3, 50].map((g) => `${sid}.${g}.${keyId}.${randomBytes(32).toString('base64url')}`),
        `${sid}.${gen}.other.${mac}`,
      ];
      clock.advance(3300); // past the grace window, where a real replay would revoke
      for (const token of forged) {
        const r = await refresh(http, token);
        assert.equal(r.status, 400, token);
        assert.equal(r.body.error, 'invalid_grant');
      }
      const row = await sessionRow(app, t0.session_id);
      assert.equal(row.revoked_at, null, 'nothing was revoked');
      assert.equal(row.generation, 1, 'nothing rotated');
      assert.equal(await auditCount(app, 'refresh_token_reuse', { sessionId: t0.session_id }), 0);
      assert.equal((await refresh(http, real)).status, 200, 'the real chain still works');
    });

    it('answers the RFC 6749 error codes', async () => {
      const cases: Array<[Record<string, string>, number, string]> = [
        [{ grant_type: 'password', username: 'a', password: 'b' }, 400, 'invalid_request'],
        [{ grant_type: 'client_credentials' }, 400, 'unsupported_grant_type'],
        [{ grant_type: 'refresh_token' }, 400, 'invalid_request'],
        [{ refresh_token: 'abc' }, 400, 'invalid_request'],
        [{ grant_type: 'refresh_token', refresh_token: 'abc' }, 400, 'invalid_grant'],
      ];
      for (const [body, status, error] of cases) {
        const r = await http.post('/auth/token', body, { form: true });
        assert.equal(r.status, status, JSON.stringify(body));
        assert.equal(r.body.error, error, JSON.stringify(body));
        assert.equal(typeof r.body.error_description, 'string');
        assert.equal(r.headers.get('cache-control'), 'no-store');
      }
      const repeated = await http.post('/auth/token', undefined, {
        raw: 'grant_type=refresh_token&refresh_token=a&refresh_token=b',
        contentType: 'application/x-www-form-urlencoded',
      });
      assert.equal(repeated.body.error, 'invalid_request', 'a repeated parameter');
    });

    it('works with a standard OAuth client library (oauth4webapi) discovered from the metadata', async () => {
      const oauth = await import('oauth4webapi');
      const user = await register(http);
      const t0 = await login(http, user.email);
      const issuer = new URL('http://localhost:3000');
      const metadata = await http.get('/.well-known/oauth-authorization-server');
      // The issuer is the public URL; the test server listens on an ephemeral port.
      const as = {
        ...metadata.body,
        token_endpoint: `${app.url}/auth/token`,
        revocation_endpoint: `${app.url}/auth/revoke`,
      } as import('oauth4webapi').AuthorizationServer;
      assert.equal(as.issuer, issuer.href.replace(/\/$/, ''));
      const client = { client_id: 'latchkey-test-client' };
      const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), t0.refresh_token, { [oauth.allowInsecureRequests]: true });
      const result = await oauth.processRefreshTokenResponse(as, client, response);
      assert.equal(result.token_type, 'bearer');
      assert.equal(typeof result.access_token, 'string');
      assert.equal(typeof result.refresh_token, 'string');
      assert.equal((await http.get('/me', { token: result.access_token })).status, 200);
      const revoke = await oauth.revocationRequest(as, client, oauth.None(), result.refresh_token!, { [oauth.allowInsecureRequests]: true });
      await oauth.processRevocationResponse(revoke);
      assert.equal((await http.get('/me', { token: result.access_token })).status, 401);
    });
  });

  describe('revocation and logout', () => {
    it('POST /auth/revoke answers 200 for anything and revokes an authentic refresh token (user_logout)', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      const unknown = await http.post('/auth/revoke', { token: 'whatever' }, { form: true });
      assert.equal(unknown.status, 200);
      assert.equal(unknown.headers.get('cache-control'), 'no-store');
      assert.equal((await sessionRow(app, t.session_id)).revoked_at, null);
      const r = await http.post('/auth/revoke', { token: t.refresh_token, token_type_hint: 'refresh_token' }, { form: true });
      assert.equal(r.status, 200);
      const row = await sessionRow(app, t.session_id);
      assert.equal(row.revoked_reason, 'user_logout');
      assert.equal((await http.get('/me', { token: t.access_token })).status, 401);
      assert.equal((await refresh(http, t.refresh_token)).status, 400);
      const missing = await http.post('/auth/revoke', {}, { form: true });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_request');
    });

    it('logout scopes: local, others, global', async () => {
      const user = await register(http);
      const devices = [];
      for (const d of ['a', 'b', 'c']) devices.push(await login(http, user.email, PASSWORD, { deviceId: `scope-device-${d}` }));
      const alive = (t: { access_token: string }) => works(http, t);

      assert.equal((await http.post('/auth/logout?scope=local', undefined, { token: devices[0].access_token })).status, 204);
      assert.deepEqual(await Promise.all(devices.map(alive)), [false, true, true]);
      assert.equal((await sessionRow(app, devices[0].session_id)).revoked_reason, 'user_logout');

      const d = await login(http, user.email, PASSWORD, { deviceId: 'scope-device-d' });
      assert.equal((await http.post('/auth/logout?scope=others', undefined, { token: d.access_token })).status, 204);
      assert.deepEqual(await Promise.all([...devices, d].map(alive)), [false, false, false, true]);

      const e = await login(http, user.email, PASSWORD, { deviceId: 'scope-device-e' });
      assert.equal((await http.post('/auth/logout?scope=global', undefined, { token: d.access_token })).status, 204);
      assert.deepEqual(await Promise.all([d, e].map(alive)), [false, false]);
      assert.equal((await refresh(http, e.refresh_token)).status, 400);

      const bad = await http.post('/auth/logout?scope=everything', undefined, { token: e.access_token });
      assert.equal(bad.status, 401, 'the guard runs first: the token is revoked');
    });

    it('validates the logout scope', async () => {
      const user = await register(http);
      const t = await login(http, user.email);
      const r = await http.post('/auth/logout?scope=everything', undefined, { token: t.access_token });
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'validation_failed');
      assert.equal((await http.get('/me', { token: t.access_token })).status, 200, 'nothing was changed');
    });
  });

  describe('signing-key rotation', () => {
    it('publishes a rotated key at once but signs with it only after JWKS caches have expired', async () => {
      const user = await register(http);
      const before = await login(http, user.email);
      const oldKid = decodeJwt(before.access_token).header.kid;
      const newKid = await app.app.get(SigningKeysService).rotate();
      assert.notEqual(newKid, oldKid);
      const jwks = await http.get('/.well-known/jwks.json');
      const kids = jwks.body.keys.map((k: { kid: string }) => k.kid);
      assert.ok(kids.includes(oldKid) && kids.includes(newKid), kids.join(','));
      assert.match(jwks.headers.get('cache-control') ?? '', /max-age=300/);
      const during = await login(http, user.email);
      assert.equal(decodeJwt(during.access_token).header.kid, oldKid, 'the old key keeps signing while caches may lack the new one');
      assert.equal((await http.get('/me', { token: before.access_token })).status, 200);
    });

    it('keys:rotate --immediate signs with the new key at once; tokens of the old key keep working', async () => {
      const user = await register(http);
      const before = await login(http, user.email);
      const oldKid = decodeJwt(before.access_token).header.kid;
      const newKid = await app.app.get(SigningKeysService).rotate({ immediate: true });
      const after = await login(http, user.email);
      assert.equal(decodeJwt(after.access_token).header.kid, newKid);
      assert.equal((await http.get('/me', { token: after.access_token })).status, 200);
      assert.equal((await http.get('/me', { token: before.access_token })).status, 200, 'a token of the old key still works');
      const kids = (await http.get('/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid);
      assert.ok(kids.includes(oldKid) && kids.includes(newKid));
    });
  });
});

describe(`expiry [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  // Stopped: only the test moves it, so no stalled request on a loaded runner can cross a boundary by accident.
  const clock = new FakeClock();
  before(async () => {
    app = await startApp({ ACCESS_TOKEN_TTL: '3s', REFRESH_IDLE_TTL: '6s', REFRESH_TOKEN_TTL: '12s', REFRESH_REUSE_GRACE: '1s' }, undefined, [
      { provide: Clock, useValue: clock },
    ]);
    http = new Http(app.url);
  });
  after(async () => app.close());

  it('expires access tokens, idle sessions and, despite use, sessions past their absolute lifetime', async () => {
    const user = await register(http);
    const idle = await login(http, user.email, PASSWORD, { deviceId: 'expiry-idle-1' });
    const active = await login(http, user.email, PASSWORD, { deviceId: 'expiry-active-1' });
    assert.equal(active.refresh_token_expires_in, 12);
    let current = active.refresh_token;
    const started = clock.now();
    let refreshes = 0;
    while (clock.now() - started < 6800) {
      clock.advance(1500);
      const r = await refresh(http, current);
      assert.equal(r.status, 200, 'regular use keeps the session alive past the idle window');
      current = r.body.refresh_token;
      refreshes += 1;
    }
    assert.ok(refreshes >= 3);
    assert.equal((await http.get('/me', { token: idle.access_token })).status, 401, 'the 3 s access token has expired');
    const idleRefresh = await refresh(http, idle.refresh_token);
    assert.equal(idleRefresh.status, 400, 'unused for 6 s: idle-expired');
    assert.equal(idleRefresh.body.error, 'invalid_grant');
    while (clock.now() - started < 12_600) {
      clock.advance(1500);
      const r = await refresh(http, current);
      if (r.status !== 200) break;
      current = r.body.refresh_token;
    }
    const late = await refresh(http, current);
    assert.equal(late.status, 400, 'past REFRESH_TOKEN_TTL the chain ends whatever the use');
    const list = await http.get('/me/sessions', { token: (await login(http, user.email)).access_token });
    assert.equal(list.body.items.length, 1, 'expired sessions are not listed as active');
  });
});
