import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Browser, Page } from 'playwright-core';
import { freshPage, launch, shot, PageErrors } from '../support/browser';
import { startApp, TestApp } from '../support/app';
import { freePort } from '../support/faults';
import { Http, login, PASSWORD, register, uniqueEmail, works } from '../support/http';
import { SmtpSink } from '../support/smtp';

/**
 * The e-mail change in Chromium: asked for on /account/security, confirmed on the page the link
 * mailed to the new address opens, and undone from the notice the old address gets; every link
 * taken from a mail a real SMTP server received.
 */
describe('e-mail change in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;
  let browser: Browser;
  let page: Page;
  let errors: PageErrors;
  let closePage: () => Promise<void>;

  before(async () => {
    smtp = await SmtpSink.start();
    // http://localhost, as the security page's cookie-mode sign-in needs (COOKIE_SECURE follows it).
    const port = await freePort();
    app = await startApp({ SMTP_URL: smtp.url, PORT: String(port), JWT_ISSUER: `http://localhost:${port}` });
    app.url = `http://localhost:${port}`;
    http = new Http(app.url);
    browser = await launch();
  });
  beforeEach(async () => {
    ({ page, errors, close: closePage } = await freshPage(browser, { viewport: { width: 900, height: 1000 }, locale: 'en-GB' }));
  });
  afterEach(async () => {
    await closePage();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await smtp?.stop();
  });

  const linkIn = async (email: string, subject: RegExp, to: 'confirm-email' | 'revert-email') => {
    const link = (await smtp.next(email, subject)).links.find((l) => l.includes(`/account/${to}#token=`));
    assert.ok(link?.startsWith(`${app.url}/account/${to}#token=`), `a link to the ${to} page at APP_URL`);
    return link!;
  };

  it('changes the address from /account/security, confirms it from the new mailbox, and the old one undoes it', async () => {
    const user = await register(http);
    const other = await login(http, user.email, PASSWORD, { deviceId: 'browser-email-other' });
    const to = uniqueEmail('browser-moved');
    await page.goto(`${app.url}/account/security`);
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'E-mail address' }).waitFor();

    // A wrong password is refused on the form (Chromium logs the 401 as a console error).
    errors.expect(/status of 401/);
    await page.getByLabel('New e-mail address').fill(to);
    await page.getByLabel('Your password').fill('not the password');
    await page.getByRole('button', { name: 'Change e-mail' }).click();
    await page.getByText('That password is not right.').waitFor();
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Change e-mail' }).click();
    await page.getByText(`Check your inbox at ${to}`).waitFor();
    await shot(page, 'security-change-email.png');
    assert.equal((await http.get('/me', { token: other.access_token })).body.email, user.email, 'nothing changes until confirmed');

    await page.goto(await linkIn(to, /Confirm your new e-mail address/, 'confirm-email'));
    await page.getByRole('heading', { name: 'Confirm your new address' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token is gone from the address bar');
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('heading', { name: 'Your address is changed' }).waitFor();
    await page.getByText(`Your account now uses ${to}.`).waitFor();
    await shot(page, 'account-confirm-email.png');
    assert.equal((await http.get('/me', { token: other.access_token })).body.email, to);

    await page.goto(await linkIn(user.email, /was changed/, 'revert-email'));
    await page.getByRole('heading', { name: "Wasn't you?" }).waitFor();
    await page.getByRole('button', { name: 'Undo the change and sign out everywhere' }).click();
    await page.getByRole('heading', { name: 'Your address is back' }).waitFor();
    await shot(page, 'account-revert-email.png');
    assert.equal(await works(http, other), false, 'every device is signed out');
    assert.equal((await smtp.next(user.email, /Reset your/)).to, user.email.toLowerCase(), 'the reset link goes to the address that came back');
  });

  it('the confirm and revert pages opened without a token ask for the link from the e-mail', async () => {
    for (const path of ['confirm-email', 'revert-email']) {
      await page.goto(`${app.url}/account/${path}`);
      await page.getByRole('heading', { name: 'Open the link from your e-mail' }).waitFor();
    }
  });
});
