import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Browser, Page } from 'playwright-core';
import { freshPage, launch, shot, PageErrors } from '../support/browser';
import { startAppAtOwnUrl, TestApp } from '../support/app';
import { Http, login, PASSWORD, register, uniqueEmail, works } from '../support/http';
import { SmtpSink } from '../support/smtp';

const ADMIN_EMAIL = 'deletion-browser-admin@example.com';
const ADMIN_PASSWORD = 'deletion browser admin password';
const DELETED = /account has been deleted/;

/** The two "delete" buttons: the dashboard's user page and the user's own security page, each behind a typed confirmation. */
describe('account deletion in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let smtp: SmtpSink;
  let browser: Browser;
  let page: Page;
  let errors: PageErrors;
  let closePage: () => Promise<void>;

  before(async () => {
    smtp = await SmtpSink.start();
    app = await startAppAtOwnUrl({ ADMIN_EMAIL, ADMIN_PASSWORD, SMTP_URL: smtp.url });
    http = new Http(app.url);
    browser = await launch();
  });
  beforeEach(async () => {
    ({ page, errors, close: closePage } = await freshPage(browser, { viewport: { width: 1280, height: 860 }, locale: 'en-GB' }));
  });
  afterEach(async () => {
    await closePage();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await smtp?.stop();
  });

  async function signIn(email: string, password: string): Promise<void> {
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  it('dashboard: "Delete user" needs the address typed, then deletes the account and returns to the list', async () => {
    const user = await register(http, uniqueEmail('dash-delete'));
    const device = await login(http, user.email);
    await page.goto(`${app.url}/admin`);
    await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.goto(`${app.url}/admin#/users/${user.id}`);
    await page.getByRole('heading', { name: user.email }).waitFor();

    await page.getByRole('button', { name: 'Delete user' }).click();
    const dialog = page.getByRole('dialog');
    const confirm = dialog.getByRole('button', { name: 'Delete user' });
    assert.equal(await confirm.isDisabled(), true, 'not before the address is typed');
    await dialog.getByRole('textbox').fill('someone-else@example.com');
    assert.equal(await confirm.isDisabled(), true, 'not for another address');
    await shot(page, 'delete-user-dialog.png');
    // Cancelling changes nothing.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await works(http, device), true);

    await page.getByRole('button', { name: 'Delete user' }).click();
    await page.getByRole('dialog').getByRole('textbox').fill(user.email);
    await page.getByRole('dialog').getByRole('button', { name: 'Delete user' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.getByText(`${user.email} deleted.`).waitFor();
    assert.equal(await works(http, device), false, 'its device is signed out');
    assert.equal((await http.get(`/admin/users/${user.id}`, { token: (await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token })).status, 404);
    await smtp.next(user.email, DELETED);
  });

  it('dashboard: no "Delete user" on the admin\'s own page', async () => {
    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.goto(`${app.url}/admin`);
    await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.goto(`${app.url}/admin#/users/${admin.user!.id}`);
    await page.getByRole('heading', { name: ADMIN_EMAIL }).waitFor();
    await page.getByText('This is your own account.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Delete user' }).count(), 0);
  });

  it('/account/security: "Delete my account" with the typed address and the password; a wrong password deletes nothing', async () => {
    const user = await register(http, uniqueEmail('self-delete'));
    const elsewhere = await login(http, user.email, PASSWORD, { deviceId: 'elsewhere-device' });
    // The wrong password's 401, and the dead session's answers afterwards, are logged by Chromium as failed loads.
    errors.expect(/Failed to load resource: the server responded with a status of (400|401)/);
    await page.goto(`${app.url}/account/security`);
    await signIn(user.email, PASSWORD);
    await page.getByRole('heading', { name: 'Security' }).waitFor();

    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('heading', { name: 'Delete your account' }).waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByText('Type your e-mail address exactly as shown to confirm.').waitFor();
    assert.equal(await works(http, elsewhere), true, 'not without the typed address');

    await page.getByLabel(/Type your e-mail address/).fill(user.email);
    await page.getByLabel('Password').fill('not my password');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByText('The password is wrong. Nothing was deleted.').waitFor();
    assert.equal(await works(http, elsewhere), true);
    await shot(page, 'security-delete-account.png');

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('heading', { name: 'Your account is deleted' }).waitFor();
    assert.equal(await works(http, elsewhere), false, 'every device is signed out');
    assert.equal((await http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 401);
    await smtp.next(user.email, DELETED);
    // A reload finds no session to restore.
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();
  });
});
