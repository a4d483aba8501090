import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, shot } from '../support/browser';
import { startAppAtLocalhost } from '../support/app';
import { login, PASSWORD, register, uniqueEmail, works } from '../support/http';

/**
 * The e-mail change in Chromium: asked for on /account/security, confirmed on the page the link
 * mailed to the new address opens, and undone from the notice the old address gets; every link
 * taken from a mail a real SMTP server received.
 */
describe('e-mail change in Chromium', () => {
  const suite = browserSuite({
    mail: true,
    // http://localhost, as the security page's cookie-mode sign-in needs (COOKIE_SECURE follows it).
    app: (mail) => startAppAtLocalhost(mail),
    page: { viewport: { width: 900, height: 1000 }, locale: 'en-GB' },
  });

  const linkIn = async (email: string, subject: RegExp, to: 'confirm-email' | 'revert-email') => {
    const link = (await suite.smtp.next(email, subject)).links.find((l) => l.includes(`/account/${to}#token=`));
    assert.ok(link?.startsWith(`${suite.app.url}/account/${to}#token=`), `a link to the ${to} page at APP_URL`);
    return link!;
  };

  it('changes the address from /account/security, confirms it from the new mailbox, and the old one undoes it', async () => {
    const user = await register(suite.http);
    const other = await login(suite.http, user.email, PASSWORD, { deviceId: 'browser-email-other' });
    const to = uniqueEmail('browser-moved');
    await suite.page.goto(`${suite.app.url}/account/security`);
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(user.email);
    await suite.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'E-mail address' }).waitFor();

    // A wrong password is refused on the form (Chromium logs the 401 as a console error).
    suite.errors.expect(/status of 401/);
    await suite.page.getByLabel('New e-mail address').fill(to);
    await suite.page.getByLabel('Your password').fill('not the password');
    await suite.page.getByRole('button', { name: 'Change e-mail' }).click();
    await suite.page.getByText('That password is not right.').waitFor();
    await suite.page.getByLabel('Your password').fill(PASSWORD);
    await suite.page.getByRole('button', { name: 'Change e-mail' }).click();
    await suite.page.getByText(`Check your inbox at ${to}`).waitFor();
    await shot(suite.page, 'security-change-email.png');
    assert.equal((await suite.http.get('/me', { token: other.access_token })).body.email, user.email, 'nothing changes until confirmed');

    await suite.page.goto(await linkIn(to, /Confirm your new e-mail address/, 'confirm-email'));
    await suite.page.getByRole('heading', { name: 'Confirm your new address' }).waitFor();
    assert.equal(new URL(suite.page.url()).hash, '', 'the token is gone from the address bar');
    await suite.page.getByRole('button', { name: 'Use this address' }).click();
    await suite.page.getByRole('heading', { name: 'Your address is changed' }).waitFor();
    await suite.page.getByText(`Your account now uses ${to}.`).waitFor();
    await shot(suite.page, 'account-confirm-email.png');
    assert.equal((await suite.http.get('/me', { token: other.access_token })).body.email, to);

    await suite.page.goto(await linkIn(user.email, /was changed/, 'revert-email'));
    await suite.page.getByRole('heading', { name: "Wasn't you?" }).waitFor();
    await suite.page.getByRole('button', { name: 'Undo the change and sign out everywhere' }).click();
    await suite.page.getByRole('heading', { name: 'Your address is back' }).waitFor();
    await shot(suite.page, 'account-revert-email.png');
    assert.equal(await works(suite.http, other), false, 'every device is signed out');
    assert.equal((await suite.smtp.next(user.email, /Reset your/)).to, user.email.toLowerCase(), 'the reset link goes to the address that came back');
  });

  it('the confirm and revert pages opened without a token ask for the link from the e-mail', async () => {
    for (const path of ['confirm-email', 'revert-email']) {
      await suite.page.goto(`${suite.app.url}/account/${path}`);
      await suite.page.getByRole('heading', { name: 'Open the link from your e-mail' }).waitFor();
    }
  });
});
