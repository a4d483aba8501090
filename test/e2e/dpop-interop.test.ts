import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import { startAppAtOwnUrl, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, register } from '../support/http';

/**
 * The small helper an oauth4webapi application needs: latchkey's login is not an OAuth grant,
 * so the proof for it is signed here, with the same key pair oauth4webapi uses afterwards.
 */
async function loginWithProof(http: Http, keyPair: CryptoKeyPair, email: string): Promise<{ refresh_token: string; token_type: string }> {
  const url = `${http.base}/auth/login`;
  const jwk = await jose.exportJWK(keyPair.publicKey);
  const proof = await new jose.SignJWT({ htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .sign(keyPair.privateKey);
  const r = await http.post('/auth/login', { email, password: PASSWORD }, { headers: { dpop: proof } });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

describe(`oauth4webapi, an outside client, over DPoP [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startAppAtOwnUrl();
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('discovers latchkey, refreshes a DPoP-bound session with its own proofs and calls /me with DPoP', async () => {
    const issuer = new URL(app.config.jwtIssuer);
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    assert.ok(as.dpop_signing_alg_values_supported?.includes('ES256'));
    const client: oauth.Client = { client_id: 'interop-spa' };
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keyPair);

    const user = await register(http);
    const login = await loginWithProof(http, keyPair, user.email);
    assert.equal(login.token_type, 'DPoP');

    // Without the proof, oauth4webapi surfaces latchkey's RFC 9449 error as it is.
    const refused = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), login.refresh_token, insecure);
    await assert.rejects(
      oauth.processRefreshTokenResponse(as, client, refused),
      (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_dpop_proof',
    );

    let refreshToken = login.refresh_token;
    for (let round = 0; round < 2; round++) {
      const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, { DPoP, ...insecure });
      const tokens = await oauth.processRefreshTokenResponse(as, client, response);
      assert.equal(tokens.token_type, 'dpop');
      assert.ok(tokens.refresh_token && tokens.refresh_token !== refreshToken, 'the chain moved on');
      refreshToken = tokens.refresh_token;

      const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${app.url}/me`), undefined, undefined, { DPoP, ...insecure });
      assert.equal(me.status, 200);
      assert.equal((await me.json()).id, user.id);
      // The same access token as a plain bearer token is refused.
      assert.equal((await http.get('/me', { token: tokens.access_token })).status, 401);
    }
  });
});
