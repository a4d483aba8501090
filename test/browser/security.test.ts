import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import { browserSuite, shot } from '../support/browser';
import { startAppAtLocalhost } from '../support/app';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';
import { login, PASSWORD, register } from '../support/http';

const ADMIN_EMAIL = 'security-admin@example.com';
const ADMIN_PASSWORD = 'security page admin password';

/**
 * /account/security and the dashboard's second step, in Chromium with a virtual WebAuthn
 * authenticator (CDP): real passkeys made and used by the browser, real TOTP codes computed from
 * the secret the page shows. The app runs at http://localhost:<port>: WebAuthn needs a secure
 * context and a relying party id that is a domain name, which 127.0.0.1 is not.
 */
describe('second factors and passkeys in Chromium', () => {
  const clock = new ShiftedClock();
  beforeEach(() => {
    clock.offsetMs = 0;
  });
  const suite = browserSuite({
    // Access tokens outlive the clock moves below (up to 32 minutes): a step-up test is about the age of
    // the last authentication (REAUTH_MAX_AGE), not about the page refreshing an expired token.
    app: () =>
      startAppAtLocalhost({ MFA_REQUIRED: 'admin', ADMIN_EMAIL, ADMIN_PASSWORD, ACCESS_TOKEN_TTL: '1h' }, undefined, [{ provide: Clock, useValue: clock }]),
    page: { viewport: { width: 900, height: 900 }, locale: 'en-GB' },
  });

  /** A platform authenticator with user verification, as a phone or a laptop's fingerprint reader is. */
  async function virtualAuthenticator(): Promise<void> {
    const cdp = await suite.context.newCDPSession(suite.page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
  }

  /** The code the authenticator app would show `stepsAhead` 30-second steps from the server's now. */
  function totpCode(secret: string, stepsAhead = 0): string {
    return new TOTP({ secret: Secret.fromBase32(secret.replace(/\s+/g, '')), digits: 6, period: 30, algorithm: 'SHA1' }).generate({
      timestamp: clock.now() + stepsAhead * 30_000,
    });
  }

  async function signInWithPassword(email: string, password: string): Promise<void> {
    await suite.page.goto(`${suite.app.url}/account/security`);
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(email);
    await suite.page.getByLabel('Password', { exact: true }).fill(password);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /** Turns on an authenticator app on the security page; returns its secret, as the page shows it. */
  async function addAuthenticatorApp(): Promise<string> {
    await suite.page.getByRole('button', { name: 'Add an authenticator app' }).click();
    await suite.page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    const secret = (await suite.page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{16,}=*$/, 'the secret is shown as base32 text');
    await shot(suite.page, 'security-add-authenticator.png');
    await suite.page.getByLabel('Code from the app').fill(totpCode(secret));
    await suite.page.getByRole('button', { name: 'Turn on' }).click();
    return secret;
  }

  it('a user adds a passkey on /account/security, renames it, signs out and signs in with it alone', async () => {
    await virtualAuthenticator();
    const user = await register(suite.http, `passkey-${Date.now()}@example.com`, PASSWORD, 'Pat Passkey');
    await signInWithPassword(user.email, PASSWORD);
    await suite.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await suite.page.getByText('Off. Add an authenticator app or a passkey').waitFor();

    await suite.page.getByRole('button', { name: 'Add a passkey' }).click();
    // The first factor: ten recovery codes, shown this once.
    await suite.page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    const codes = await suite.page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents();
    assert.equal(codes.length, 10, 'ten recovery codes');
    assert.equal(new Set(codes).size, 10);
    await shot(suite.page, 'security-recovery-codes.png');
    await suite.page.getByRole('button', { name: 'I have saved them' }).click();

    const factors = suite.page.getByRole('list', { name: 'Your second factors' });
    await factors.getByText(/Passkey on Linux/).waitFor();
    await suite.page.getByText('10 of 10 codes left.').waitFor();
    await suite.page.getByRole('button', { name: /^Rename Passkey on/ }).click();
    const rename = suite.page.getByLabel(/^New name for/);
    assert.equal(await rename.evaluate((el) => el === document.activeElement), true, 'the name field has the focus');
    await rename.fill('Work laptop');
    await rename.press('Enter');
    await factors.getByText('Work laptop').waitFor();
    await shot(suite.page, 'security-factors.png');

    await suite.page.getByRole('button', { name: 'Sign out' }).click();
    await suite.page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();
    await suite.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await suite.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await suite.page.getByText(user.email).waitFor();
    await factors.getByText('Work laptop').waitFor();

    // The password now asks for a second step, which the passkey answers. (Until the sign-out is
    // done the overview stays, with its "New e-mail address" field: fill nothing before the form.)
    await suite.page.getByRole('button', { name: 'Sign out' }).click();
    await suite.page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(user.email);
    await suite.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'Two-step sign-in', level: 1 }).waitFor();
    await shot(suite.page, 'security-second-step.png');
    await suite.page.getByRole('button', { name: 'Use a passkey' }).click();
    await suite.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await factors.getByText('Work laptop').waitFor();
  });

  it('a change long after the sign-in asks to confirm it is you, steps up with a code, and goes through', async () => {
    await virtualAuthenticator();
    const user = await register(suite.http, `step-up-${Date.now()}@example.com`, PASSWORD, 'Sam Step-up');
    await signInWithPassword(user.email, PASSWORD);
    await suite.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    const secret = await addAuthenticatorApp();
    await suite.page.getByRole('button', { name: 'I have saved them' }).click();
    await suite.page.getByRole('list', { name: 'Your second factors' }).getByText('Authenticator app', { exact: true }).first().waitFor();

    // 16 minutes on: the last authentication is older than REAUTH_MAX_AGE, so adding a factor
    // answers 401 insufficient_user_authentication.
    clock.offsetMs = 16 * 60_000;
    suite.errors.expect(/status of 401/);
    const add = suite.page.getByRole('button', { name: 'Add a passkey' });
    await add.click();
    const dialog = suite.page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    const code = dialog.getByLabel('Code from your authenticator app');
    assert.equal(await code.evaluate((el) => el === document.activeElement), true, 'the dialog has the focus');
    await shot(suite.page, 'security-step-up.png');
    await code.fill(totpCode(secret));
    await code.press('Enter');
    // The dialog closes, the call is sent again, and the passkey is made.
    await suite.page.getByText('Your passkey is on.').waitFor();
    assert.equal(await dialog.count(), 0, 'the dialog is gone');
    const factors = suite.page.getByRole('list', { name: 'Your second factors' });
    await factors.getByText(/Passkey on Linux/).waitFor();
    await factors.getByText('Authenticator app', { exact: true }).first().waitFor();

    // Escape cancels a step-up, and nothing changes.
    clock.offsetMs = 32 * 60_000;
    await suite.page.getByRole('button', { name: /^Remove Passkey on/ }).focus();
    suite.page.once('dialog', (d) => void d.accept());
    await suite.page.keyboard.press('Enter');
    await dialog.waitFor();
    await suite.page.keyboard.press('Escape');
    await suite.page.getByText('Nothing was changed').waitFor();
    await factors.getByText(/Passkey on Linux/).waitFor();
  });

  it('an admin under MFA_REQUIRED=admin is sent to /account/security, turns on an authenticator app, then completes the dashboard sign-in with a code', async () => {
    // Without a second factor the admin API refuses (403 mfa_enrollment_required): the dashboard says what to do.
    suite.errors.expect(/status of 403/);
    await suite.page.goto(`${suite.app.url}/admin`);
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(ADMIN_EMAIL);
    await suite.page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'Turn on two-step sign-in first' }).waitFor();
    await suite.page.getByRole('link', { name: 'Set up two-step sign-in' }).click();
    // The account page shares the dashboard's session (one refresh cookie per origin): no second sign-in.
    await suite.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await suite.page.getByText(ADMIN_EMAIL).waitFor();
    const secret = await addAuthenticatorApp();
    await suite.page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    await suite.page.getByRole('button', { name: 'I have saved them' }).click();
    await suite.page.getByRole('list', { name: 'Your second factors' }).getByText('Authenticator app', { exact: true }).first().waitFor();
    await suite.page.getByRole('button', { name: 'Sign out' }).click();
    await suite.page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();

    await suite.page.goto(`${suite.app.url}/admin`);
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(ADMIN_EMAIL);
    await suite.page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'Two-step sign-in', level: 1 }).waitFor();
    const code = suite.page.getByLabel('Code from your authenticator app');
    assert.equal(await code.evaluate((el) => el === document.activeElement), true, 'the code field has the focus');
    await shot(suite.page, 'dashboard-second-step.png');
    // A wrong code is refused and the field keeps the focus.
    suite.errors.expect(/status of 401/);
    await code.fill(String((Number(totpCode(secret, 1)) + 1) % 1_000_000).padStart(6, '0'));
    await code.press('Enter');
    await suite.page.getByText('That code is not right').waitFor();
    // The step after the one that activated the app: a code already used is refused (no replay).
    await code.fill(totpCode(secret, 1));
    await suite.page.getByRole('button', { name: 'Verify' }).click();
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
    await shot(suite.page, 'dashboard-after-second-step.png');

    // Another user with an authenticator app: the admin sees the factor and resets it.
    const user = await register(suite.http, `reset-${Date.now()}@example.com`, PASSWORD, 'Robin Reset');
    const tokens = await login(suite.http, user.email, PASSWORD, { deviceId: 'reset-user-device' });
    const pending = await suite.http.post('/me/factors/totp', { name: 'Phone' }, { token: tokens.access_token });
    assert.equal(pending.status, 201, pending.text);
    const activated = await suite.http.post(`/me/factors/${pending.body.id}/verify`, { code: totpCode(pending.body.secret) }, { token: tokens.access_token });
    assert.equal(activated.status, 200, activated.text);

    await suite.page.goto(`${suite.app.url}/admin#/users/${user.id}`);
    await suite.page.getByRole('heading', { name: user.email }).waitFor();
    await suite.page.getByText('2FA', { exact: true }).first().waitFor();
    const factors = suite.page.locator('#factors');
    await factors.getByText('Phone').waitFor();
    await factors.getByText('Authenticator app (TOTP)').waitFor();
    await shot(suite.page, 'dashboard-user-factors.png');
    await suite.page.getByRole('button', { name: 'Reset second factors' }).click();
    const dialog = suite.page.getByRole('dialog', { name: 'Reset second factors?' });
    await dialog.waitFor();
    assert.equal(
      await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement),
      true,
      'Cancel has the focus: Enter never destroys',
    );
    await dialog.getByRole('button', { name: 'Reset second factors' }).click();
    await suite.page.getByText('1 second factor removed and every device signed out.').waitFor();
    await factors.getByText('No second factor').waitFor();
    const after = await suite.http.post('/auth/login', { email: user.email, password: PASSWORD });
    assert.equal(after.status, 200, after.text);
    assert.equal(after.body.mfaRequired, undefined, 'the password alone signs the user in again');
    assert.ok(after.body.access_token);

    // One factor of another user removed on its own.
    const other = await register(suite.http, `remove-${Date.now()}@example.com`, PASSWORD, 'Rene Remove');
    const otherTokens = await login(suite.http, other.email, PASSWORD, { deviceId: 'remove-user-device' });
    const otherPending = await suite.http.post('/me/factors/totp', { name: 'Tablet' }, { token: otherTokens.access_token });
    assert.equal(otherPending.status, 201, otherPending.text);
    assert.equal(
      (await suite.http.post(`/me/factors/${otherPending.body.id}/verify`, { code: totpCode(otherPending.body.secret) }, { token: otherTokens.access_token }))
        .status,
      200,
    );
    await suite.page.goto(`${suite.app.url}/admin#/users/${other.id}`);
    await suite.page.getByRole('heading', { name: other.email }).waitFor();
    await factors.getByText('Tablet').waitFor();
    await suite.page.getByRole('button', { name: 'Remove Tablet' }).click();
    await suite.page.getByRole('dialog', { name: 'Remove Tablet?' }).getByRole('button', { name: 'Remove factor' }).click();
    await suite.page.getByText('Tablet removed.').waitFor();
    await factors.getByText('No second factor').waitFor();

    // The admin's own page lists the admin's factor, and offers no reset of it.
    const me = await suite.http.post('/auth/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(me.body.mfaRequired, true, 'the admin now has a second step');
    await suite.page.goto(`${suite.app.url}/admin#/users`);
    await suite.page.getByRole('link', { name: ADMIN_EMAIL }).click();
    await suite.page.getByRole('heading', { name: ADMIN_EMAIL }).waitFor();
    await suite.page.locator('#factors').getByText('Authenticator app (TOTP)').waitFor();
    await suite.page.getByText('This is your own account.').waitFor();
    assert.equal(await suite.page.getByRole('button', { name: 'Reset second factors' }).count(), 0, "no reset of one's own factors");
    assert.equal(
      await suite.page
        .locator('#factors')
        .getByRole('button', { name: /^Remove/ })
        .count(),
      0,
      'nor removal of one of them',
    );
  });
});
