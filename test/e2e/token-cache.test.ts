import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, decodeJwt, login, register } from '../support/http';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';
import { JwtStrategy } from '../../src/auth/jwt.strategy';

/**
 * The guard's cache of verified access tokens (src/auth/jwt.strategy.ts) must never let a token
 * through that the full check would refuse: revocation is consulted on every request, `exp`
 * is honoured, and the key is the whole token.
 */
describe(`verified-token cache [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let strategy: JwtStrategy;
  const clock = new ShiftedClock();

  before(async () => {
    // Long enough for a few requests and a login on a loaded runner (a token can be issued late in its first second).
    app = await startApp({ ACCESS_TOKEN_TTL: '5s' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
    strategy = app.app.get(JwtStrategy);
  });
  after(async () => app.close());

  /** Presents the token until it is a cache hit: the cache grows on the first success only. */
  async function cached(token: string): Promise<void> {
    const before = strategy.cachedTokens;
    assert.equal((await http.get('/auth/session', { token })).status, 200);
    assert.equal(strategy.cachedTokens, before + 1, 'a verified token is cached');
    assert.equal((await http.get('/auth/session', { token })).status, 200, 'and accepted again from the cache');
    assert.equal(strategy.cachedTokens, before + 1, 'a hit adds nothing');
  }

  it('rejects a cached token at once when its session is revoked by logout', async () => {
    const user = await register(http);
    const t = await login(http, user.email, PASSWORD, { deviceId: 'cache-device-1' });
    await cached(t.access_token);
    assert.equal((await http.post('/auth/logout', undefined, { token: t.access_token })).status, 204);
    const r = await http.get('/auth/session', { token: t.access_token });
    assert.equal(r.status, 401, 'the very next request is refused');
    assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.equal((await http.get('/me', { token: t.access_token })).status, 401);
  });

  it('rejects a cached token at once when another device revokes its session', async () => {
    const user = await register(http);
    const victim = await login(http, user.email, PASSWORD, { deviceId: 'cache-device-2' });
    const other = await login(http, user.email, PASSWORD, { deviceId: 'cache-device-3' });
    await cached(victim.access_token);
    assert.equal((await http.delete(`/me/sessions/${victim.session_id}`, { token: other.access_token })).status, 204);
    assert.equal((await http.get('/auth/session', { token: victim.access_token })).status, 401);
    assert.equal((await http.get('/auth/session', { token: other.access_token })).status, 200, 'the other session is untouched');
  });

  it('rejects a cached token once its exp has passed', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    const { payload } = decodeJwt(t.access_token);
    assert.equal(payload.exp - payload.iat, 5);
    await cached(t.access_token);
    // jsonwebtoken's rule: expired once the current second reaches exp.
    clock.advance(Math.max(0, payload.exp * 1000 - clock.now() + 50));
    assert.equal((await http.get('/auth/session', { token: t.access_token })).status, 401, 'expired, although cached');
  });

  it('keys the cache by the whole token: an altered copy of a cached token is refused', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    await cached(t.access_token);
    const [h, p, s] = t.access_token.split('.');
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    const badSignature = `${h}.${p}.${s.slice(0, -2)}${flip(s[s.length - 2])}${s[s.length - 1]}`;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const badPayload = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${s}`;
    for (const token of [badSignature, badPayload, `${t.access_token}x`]) {
      assert.equal((await http.get('/auth/session', { token })).status, 401);
    }
    assert.equal((await http.get('/auth/session', { token: t.access_token })).status, 200, 'the genuine token still works');
  });

  it('does not cache a token it refused', async () => {
    const before = strategy.cachedTokens;
    const user = await register(http);
    const t = await login(http, user.email);
    const [h, p] = t.access_token.split('.');
    assert.equal((await http.get('/auth/session', { token: `${h}.${p}.AAAA` })).status, 401);
    assert.equal((await http.get('/auth/session', { token: `${h}.${p}.AAAA` })).status, 401);
    assert.equal(strategy.cachedTokens, before);
  });
});
