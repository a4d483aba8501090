import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, shot } from '../support/browser';
import { startAppAtOwnUrl } from '../support/app';
import { login, PASSWORD, register, works } from '../support/http';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

/** The pages mailed links open, driven from the links in mails a real SMTP server received. */
describe('account pages in Chromium', () => {
  const suite = browserSuite({
    mail: true,
    // Links point at APP_URL, which defaults to the issuer: here the app's own address.
    app: (mail) => startAppAtOwnUrl(mail),
    page: { viewport: { width: 900, height: 760 }, locale: 'en-GB' },
  });

  const linkIn = async (email: string, subject: RegExp, page: 'reset-password' | 'verify-email' | 'report', count = 1) => {
    const link = (await suite.smtp.next(email, subject, 15_000, count)).links.find((l) => l.includes(`/account/${page}#token=`));
    assert.ok(link?.startsWith(`${suite.app.url}/account/${page}#token=`), `a link to the ${page} page at APP_URL`);
    return link!;
  };

  it('reset: the page takes the token from the fragment and drops it from the address bar, checks the password, and every device is signed out', async () => {
    const user = await register(suite.http);
    const device = await login(suite.http, user.email, PASSWORD, { deviceId: 'page-reset-device' });
    assert.equal((await suite.http.post('/auth/password/forgot', { email: user.email })).status, 202);
    await suite.page.goto(await linkIn(user.email, /Reset your/, 'reset-password'));
    await suite.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    assert.equal(new URL(suite.page.url()).hash, '', 'the token is gone from the address bar and the history');
    await shot(suite.page, 'account-reset.png');

    await suite.page.getByLabel('New password', { exact: true }).fill('short');
    await suite.page.getByLabel('New password again').fill('short');
    await suite.page.getByRole('button', { name: 'Set new password' }).click();
    await suite.page.getByText('The password must be at least 8 characters').waitFor();
    await suite.page.getByLabel('New password', { exact: true }).fill('a good new passphrase');
    await suite.page.getByLabel('New password again').fill('a different passphrase');
    await suite.page.getByRole('button', { name: 'Set new password' }).click();
    await suite.page.getByText('The two passwords are not the same.').waitFor();

    await suite.page.getByLabel('New password again').fill('a good new passphrase');
    await suite.page.getByRole('button', { name: 'Set new password' }).click();
    await suite.page.getByRole('heading', { name: 'Your password is changed' }).waitFor();
    await suite.page.getByText(`Every device that was signed in to ${user.email} has been signed out.`).waitFor();
    await shot(suite.page, 'account-reset-done.png');
    assert.equal(await works(suite.http, device), false, "the other device's access token stopped at once");
    await login(suite.http, user.email, 'a good new passphrase');
  });

  it('reset: a used link says so and offers to send a new one', async () => {
    const user = await register(suite.http);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    const link = await linkIn(user.email, /Reset your/, 'reset-password');
    assert.equal(
      (await suite.http.post('/auth/password/reset', { token: new URLSearchParams(link.split('#')[1]).get('token'), newPassword: 'used up already' })).status,
      200,
    );

    suite.errors.expect(/status of 400/);
    await suite.page.goto(link);
    await suite.page.getByLabel('New password', { exact: true }).fill('another passphrase');
    await suite.page.getByLabel('New password again').fill('another passphrase');
    await suite.page.getByRole('button', { name: 'Set new password' }).click();
    await suite.page.getByRole('heading', { name: 'This link does not work any more' }).waitFor();
    await shot(suite.page, 'account-link-used.png');
    await suite.page.getByLabel('Your e-mail address').fill(user.email);
    await suite.page.getByRole('button', { name: 'Send me a new link' }).click();
    await suite.page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    await linkIn(user.email, /Reset your/, 'reset-password', 2);
  });

  it('verify: opening the link confirms the address', async () => {
    const user = await register(suite.http);
    await suite.page.goto(await linkIn(user.email, /Confirm your e-mail/, 'verify-email'));
    await suite.page.getByRole('heading', { name: 'Your address is confirmed' }).waitFor();
    await suite.page.getByText(user.email).waitFor();
    await shot(suite.page, 'account-verified.png');
    const tokens = await login(suite.http, user.email);
    assert.equal((await suite.http.get('/me', { token: tokens.access_token })).body.emailVerified, true);
  });

  it('report: "this wasn\'t me" signs that device out and sends a reset link', async () => {
    const user = await register(suite.http);
    const home = await login(suite.http, user.email, PASSWORD, { deviceId: 'page-report-home' });
    const stranger = await suite.http.post(
      '/auth/login',
      { email: user.email, password: PASSWORD, deviceId: 'page-report-strange' },
      { headers: { 'user-agent': IPHONE } },
    );
    await suite.page.goto(await linkIn(user.email, /A new device signed in/, 'report'));
    await suite.page.getByRole('heading', { name: "Wasn't you?" }).waitFor();
    await suite.page.getByText('Safari on iPhone').waitFor();
    assert.equal(new URL(suite.page.url()).hash, '');
    await shot(suite.page, 'account-report.png');
    await suite.page.getByRole('button', { name: 'Sign that device out' }).click();
    await suite.page.getByRole('heading', { name: 'That device is signed out' }).waitFor();
    await shot(suite.page, 'account-report-done.png');
    assert.equal(await works(suite.http, stranger.body), false);
    assert.equal(await works(suite.http, home), true);
    await linkIn(user.email, /Reset your/, 'reset-password');
  });

  it('a page opened without its token asks for the link from the e-mail', async () => {
    for (const path of ['reset-password', 'verify-email', 'report']) {
      await suite.page.goto(`${suite.app.url}/account/${path}`);
      await suite.page.getByRole('heading', { name: 'Open the link from your e-mail' }).waitFor();
    }
  });
});
