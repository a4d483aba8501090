import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { auditCount } from '../support/db';
import { Http, PASSWORD, login, register } from '../support/http';
import { SmtpSink, tokenOf } from '../support/smtp';

const VERIFY = /Confirm your e-mail/;

describe(`REQUIRE_EMAIL_VERIFICATION=true [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;

  before(async () => {
    smtp = await SmtpSink.start();
    app = await startApp({ SMTP_URL: smtp.url, REQUIRE_EMAIL_VERIFICATION: 'true' });
    http = new Http(app.url);
  });
  after(async () => {
    await app?.close();
    await smtp?.stop();
  });

  it('an unverified account gets 403 email_unverified, only after a correct password, and a fresh link; once verified it signs in', async () => {
    const user = await register(http);
    const first = await smtp.next(user.email, VERIFY);

    const wrong = await http.post('/auth/login', { email: user.email, password: 'not the password' });
    assert.equal(wrong.status, 401, 'a wrong password learns nothing about the account');
    assert.equal(wrong.body.error, 'invalid_credentials');

    const refused = await http.post('/auth/login', { email: user.email, password: PASSWORD });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'email_unverified');
    assert.equal(refused.body.access_token, undefined);
    const second = await smtp.next(user.email, VERIFY, 15_000, 2);
    assert.notEqual(tokenOf(second, 'verify-email'), tokenOf(first, 'verify-email'), 'a refused login mails a new link');
    assert.equal(await auditCount(app, 'login_failed', { userId: user.id }), 2);

    // Either link works; the first one used confirms the address.
    assert.equal((await http.post('/auth/email/verify', { token: tokenOf(first, 'verify-email') })).status, 200);
    const tokens = await login(http, user.email);
    assert.equal((await http.get('/me', { token: tokens.access_token })).body.emailVerified, true);
    assert.equal(
      (await http.post('/auth/email/verify', { token: tokenOf(second, 'verify-email') })).body.error,
      'invalid_link',
      'the other link has nothing left to do',
    );
  });
});
