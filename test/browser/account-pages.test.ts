import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Browser, Page } from 'playwright-core';
import { freshPage, launch, shot, PageErrors } from '../support/browser';
import { startAppAtOwnUrl, TestApp } from '../support/app';
import { Http, login, PASSWORD, register, works } from '../support/http';
import { SmtpSink } from '../support/smtp';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

/** The pages mailed links open, driven from the links in mails a real SMTP server received. */
describe('account pages in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;
  let browser: Browser;
  let page: Page;
  let errors: PageErrors;
  let closePage: () => Promise<void>;

  before(async () => {
    smtp = await SmtpSink.start();
    // Links point at APP_URL, which defaults to the issuer: here the app's own address.
    app = await startAppAtOwnUrl({ SMTP_URL: smtp.url });
    http = new Http(app.url);
    browser = await launch();
  });
  beforeEach(async () => {
    ({ page, errors, close: closePage } = await freshPage(browser, { viewport: { width: 900, height: 760 }, locale: 'en-GB' }));
  });
  afterEach(async () => {
    await closePage();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await smtp?.stop();
  });

  const linkIn = async (email: string, subject: RegExp, page: 'reset-password' | 'verify-email' | 'report', count = 1) => {
    const link = (await smtp.next(email, subject, 15_000, count)).links.find((l) => l.includes(`/account/${page}#token=`));
    assert.ok(link?.startsWith(`${app.url}/account/${page}#token=`), `a link to the ${page} page at APP_URL`);
    return link!;
  };

  it('reset: the page takes the token from the fragment and drops it from the address bar, checks the password, and every device is signed out', async () => {
    const user = await register(http);
    const device = await login(http, user.email, PASSWORD, { deviceId: 'page-reset-device' });
    assert.equal((await http.post('/auth/password/forgot', { email: user.email })).status, 202);
    await page.goto(await linkIn(user.email, /Reset your/, 'reset-password'));
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token is gone from the address bar and the history');
    await shot(page, 'account-reset.png');

    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('New password again').fill('short');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('The password must be at least 8 characters').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('a good new passphrase');
    await page.getByLabel('New password again').fill('a different passphrase');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('The two passwords are not the same.').waitFor();

    await page.getByLabel('New password again').fill('a good new passphrase');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByRole('heading', { name: 'Your password is changed' }).waitFor();
    await page.getByText(`Every device that was signed in to ${user.email} has been signed out.`).waitFor();
    await shot(page, 'account-reset-done.png');
    assert.equal(await works(http, device), false, "the other device's access token stopped at once");
    await login(http, user.email, 'a good new passphrase');
  });

  it('reset: a used link says so and offers to send a new one', async () => {
    const user = await register(http);
    await http.post('/auth/password/forgot', { email: user.email });
    const link = await linkIn(user.email, /Reset your/, 'reset-password');
    assert.equal(
      (await http.post('/auth/password/reset', { token: new URLSearchParams(link.split('#')[1]).get('token'), newPassword: 'used up already' })).status,
      200,
    );

    errors.expect(/status of 400/);
    await page.goto(link);
    await page.getByLabel('New password', { exact: true }).fill('another passphrase');
    await page.getByLabel('New password again').fill('another passphrase');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByRole('heading', { name: 'This link does not work any more' }).waitFor();
    await shot(page, 'account-link-used.png');
    await page.getByLabel('Your e-mail address').fill(user.email);
    await page.getByRole('button', { name: 'Send me a new link' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    await linkIn(user.email, /Reset your/, 'reset-password', 2);
  });

  it('verify: opening the link confirms the address', async () => {
    const user = await register(http);
    await page.goto(await linkIn(user.email, /Confirm your e-mail/, 'verify-email'));
    await page.getByRole('heading', { name: 'Your address is confirmed' }).waitFor();
    await page.getByText(user.email).waitFor();
    await shot(page, 'account-verified.png');
    const tokens = await login(http, user.email);
    assert.equal((await http.get('/me', { token: tokens.access_token })).body.emailVerified, true);
  });

  it('report: "this wasn\'t me" signs that device out and sends a reset link', async () => {
    const user = await register(http);
    const home = await login(http, user.email, PASSWORD, { deviceId: 'page-report-home' });
    const stranger = await http.post(
      '/auth/login',
      { email: user.email, password: PASSWORD, deviceId: 'page-report-strange' },
      { headers: { 'user-agent': IPHONE } },
    );
    await page.goto(await linkIn(user.email, /A new device signed in/, 'report'));
    await page.getByRole('heading', { name: "Wasn't you?" }).waitFor();
    await page.getByText('Safari on iPhone').waitFor();
    assert.equal(new URL(page.url()).hash, '');
    await shot(page, 'account-report.png');
    await page.getByRole('button', { name: 'Sign that device out' }).click();
    await page.getByRole('heading', { name: 'That device is signed out' }).waitFor();
    await shot(page, 'account-report-done.png');
    assert.equal(await works(http, stranger.body), false);
    assert.equal(await works(http, home), true);
    await linkIn(user.email, /Reset your/, 'reset-password');
  });

  it('a page opened without its token asks for the link from the e-mail', async () => {
    for (const path of ['reset-password', 'verify-email', 'report']) {
      await page.goto(`${app.url}/account/${path}`);
      await page.getByRole('heading', { name: 'Open the link from your e-mail' }).waitFor();
    }
  });
});
