import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, shot } from '../support/browser';
import { startAppAtOwnUrl } from '../support/app';
import { login, PASSWORD, register, uniqueEmail, works } from '../support/http';

const ADMIN_EMAIL = 'deletion-browser-admin@example.com';
const ADMIN_PASSWORD = 'deletion browser admin password';
const DELETED = /account has been deleted/;

/** The two "delete" buttons: the dashboard's user page and the user's own security page, each behind a typed confirmation. */
describe('account deletion in Chromium', () => {
  const suite = browserSuite({
    mail: true,
    app: (mail) => startAppAtOwnUrl({ ADMIN_EMAIL, ADMIN_PASSWORD, ...mail }),
    page: { viewport: { width: 1280, height: 860 }, locale: 'en-GB' },
  });

  async function signIn(email: string, password: string): Promise<void> {
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(email);
    await suite.page.getByLabel('Password', { exact: true }).fill(password);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  it('dashboard: "Delete user" needs the address typed, then deletes the account and returns to the list', async () => {
    const user = await register(suite.http, uniqueEmail('dash-delete'));
    const device = await login(suite.http, user.email);
    await suite.page.goto(`${suite.app.url}/admin`);
    await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
    await suite.page.goto(`${suite.app.url}/admin#/users/${user.id}`);
    await suite.page.getByRole('heading', { name: user.email }).waitFor();

    await suite.page.getByRole('button', { name: 'Delete user' }).click();
    const dialog = suite.page.getByRole('dialog');
    const confirm = dialog.getByRole('button', { name: 'Delete user' });
    assert.equal(await confirm.isDisabled(), true, 'not before the address is typed');
    await dialog.getByRole('textbox').fill('someone-else@example.com');
    assert.equal(await confirm.isDisabled(), true, 'not for another address');
    await shot(suite.page, 'delete-user-dialog.png');
    // Cancelling changes nothing.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await works(suite.http, device), true);

    await suite.page.getByRole('button', { name: 'Delete user' }).click();
    await suite.page.getByRole('dialog').getByRole('textbox').fill(user.email);
    await suite.page.getByRole('dialog').getByRole('button', { name: 'Delete user' }).click();
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
    await suite.page.getByText(`${user.email} deleted.`).waitFor();
    assert.equal(await works(suite.http, device), false, 'its device is signed out');
    assert.equal((await suite.http.get(`/admin/users/${user.id}`, { token: (await login(suite.http, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token })).status, 404);
    await suite.smtp.next(user.email, DELETED);
  });

  it('dashboard: no "Delete user" on the admin\'s own page', async () => {
    const admin = await login(suite.http, ADMIN_EMAIL, ADMIN_PASSWORD);
    await suite.page.goto(`${suite.app.url}/admin`);
    await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
    await suite.page.goto(`${suite.app.url}/admin#/users/${admin.user!.id}`);
    await suite.page.getByRole('heading', { name: ADMIN_EMAIL }).waitFor();
    await suite.page.getByText('This is your own account.').waitFor();
    assert.equal(await suite.page.getByRole('button', { name: 'Delete user' }).count(), 0);
  });

  it('/account/security: "Delete my account" with the typed address and the password; a wrong password deletes nothing', async () => {
    const user = await register(suite.http, uniqueEmail('self-delete'));
    const elsewhere = await login(suite.http, user.email, PASSWORD, { deviceId: 'elsewhere-device' });
    // The wrong password's 401, and the dead session's answers afterwards, are logged by Chromium as failed loads.
    suite.errors.expect(/Failed to load resource: the server responded with a status of (400|401)/);
    await suite.page.goto(`${suite.app.url}/account/security`);
    await signIn(user.email, PASSWORD);
    await suite.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();

    await suite.page.getByRole('button', { name: 'Delete my account' }).click();
    await suite.page.getByRole('heading', { name: 'Delete your account' }).waitFor();
    await suite.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await suite.page.getByRole('button', { name: 'Delete my account' }).click();
    await suite.page.getByText('Type your e-mail address exactly as shown to confirm.').waitFor();
    assert.equal(await works(suite.http, elsewhere), true, 'not without the typed address');

    await suite.page.getByLabel(/Type your e-mail address/).fill(user.email);
    await suite.page.getByLabel('Password', { exact: true }).fill('not my password');
    await suite.page.getByRole('button', { name: 'Delete my account' }).click();
    await suite.page.getByText('The password is wrong. Nothing was deleted.').waitFor();
    assert.equal(await works(suite.http, elsewhere), true);
    await shot(suite.page, 'security-delete-account.png');

    await suite.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await suite.page.getByRole('button', { name: 'Delete my account' }).click();
    await suite.page.getByRole('heading', { name: 'Your account is deleted' }).waitFor();
    assert.equal(await works(suite.http, elsewhere), false, 'every device is signed out');
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 401);
    await suite.smtp.next(user.email, DELETED);
    // A reload finds no session to restore.
    await suite.page.reload();
    await suite.page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();
  });
});
