import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Browser, BrowserContext, Page } from 'playwright-core';
import { Secret, TOTP } from 'otpauth';
import { freshPage, launch, shot, PageErrors } from '../support/browser';
import { startApp, TestApp } from '../support/app';
import { freePort } from '../support/faults';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';
import { Http, login, PASSWORD, register } from '../support/http';

const ADMIN_EMAIL = 'security-admin@example.com';
const ADMIN_PASSWORD = 'security page admin password';

/**
 * /account/security and the dashboard's second step, in Chromium with a virtual WebAuthn
 * authenticator (CDP): real passkeys made and used by the browser, real TOTP codes computed from
 * the secret the page shows. The app runs at http://localhost:<port>: WebAuthn needs a secure
 * context and a relying party id that is a domain name, which 127.0.0.1 is not.
 */
describe('second factors and passkeys in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: PageErrors;
  let closePage: Awaited<ReturnType<typeof freshPage>>['close'];
  const clock = new ShiftedClock();

  before(async () => {
    const port = await freePort();
    // Access tokens outlive the clock moves below (up to 32 minutes): a step-up test is about the age of
    // the last authentication (REAUTH_MAX_AGE), not about the page refreshing an expired token.
    app = await startApp(
      { PORT: String(port), JWT_ISSUER: `http://localhost:${port}`, MFA_REQUIRED: 'admin', ADMIN_EMAIL, ADMIN_PASSWORD, ACCESS_TOKEN_TTL: '1h' },
      undefined,
      [{ provide: Clock, useValue: clock }],
    );
    app.url = `http://localhost:${port}`;
    http = new Http(app.url);
    browser = await launch();
  });
  beforeEach(async () => {
    clock.offsetMs = 0;
    ({ context, page, errors, close: closePage } = await freshPage(browser, { viewport: { width: 900, height: 900 }, locale: 'en-GB' }));
  });
  afterEach(async (t) => {
    await closePage(t);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  /** A platform authenticator with user verification, as a phone or a laptop's fingerprint reader is. */
  async function virtualAuthenticator(): Promise<void> {
    const cdp = await context.newCDPSession(page);
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
    await page.goto(`${app.url}/account/security`);
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /** Turns on an authenticator app on the security page; returns its secret, as the page shows it. */
  async function addAuthenticatorApp(): Promise<string> {
    await page.getByRole('button', { name: 'Add an authenticator app' }).click();
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{16,}=*$/, 'the secret is shown as base32 text');
    await shot(page, 'security-add-authenticator.png');
    await page.getByLabel('Code from the app').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    return secret;
  }

  it('a user adds a passkey on /account/security, renames it, signs out and signs in with it alone', async () => {
    await virtualAuthenticator();
    const user = await register(http, `passkey-${Date.now()}@example.com`, PASSWORD, 'Pat Passkey');
    await signInWithPassword(user.email, PASSWORD);
    await page.getByRole('heading', { name: 'Security' }).waitFor();
    await page.getByText('Off. Add an authenticator app or a passkey').waitFor();

    await page.getByRole('button', { name: 'Add a passkey' }).click();
    // The first factor: ten recovery codes, shown this once.
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    const codes = await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents();
    assert.equal(codes.length, 10, 'ten recovery codes');
    assert.equal(new Set(codes).size, 10);
    await shot(page, 'security-recovery-codes.png');
    await page.getByRole('button', { name: 'I have saved them' }).click();

    const factors = page.getByRole('list', { name: 'Your second factors' });
    await factors.getByText(/Passkey on Linux/).waitFor();
    await page.getByText('10 of 10 codes left.').waitFor();
    await page.getByRole('button', { name: /^Rename Passkey on/ }).click();
    const rename = page.getByLabel(/^New name for/);
    assert.equal(await rename.evaluate((el) => el === document.activeElement), true, 'the name field has the focus');
    await rename.fill('Work laptop');
    await rename.press('Enter');
    await factors.getByText('Work laptop').waitFor();
    await shot(page, 'security-factors.png');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Security' }).waitFor();
    await page.getByText(user.email).waitFor();
    await factors.getByText('Work laptop').waitFor();

    // The password now asks for a second step, which the passkey answers.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
    await shot(page, 'security-second-step.png');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByRole('heading', { name: 'Security' }).waitFor();
    await factors.getByText('Work laptop').waitFor();
  });

  it('a change long after the sign-in asks to confirm it is you, steps up with a code, and goes through', async () => {
    await virtualAuthenticator();
    const user = await register(http, `step-up-${Date.now()}@example.com`, PASSWORD, 'Sam Step-up');
    await signInWithPassword(user.email, PASSWORD);
    await page.getByRole('heading', { name: 'Security' }).waitFor();
    const secret = await addAuthenticatorApp();
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByRole('list', { name: 'Your second factors' }).getByText('Authenticator app', { exact: true }).first().waitFor();

    // 16 minutes on: the last authentication is older than REAUTH_MAX_AGE, so adding a factor
    // answers 401 insufficient_user_authentication.
    clock.offsetMs = 16 * 60_000;
    errors.expect(/status of 401/);
    const add = page.getByRole('button', { name: 'Add a passkey' });
    await add.click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    const code = dialog.getByLabel('Code from your authenticator app');
    assert.equal(await code.evaluate((el) => el === document.activeElement), true, 'the dialog has the focus');
    await shot(page, 'security-step-up.png');
    await code.fill(totpCode(secret));
    await code.press('Enter');
    // The dialog closes, the call is sent again, and the passkey is made.
    await page.getByText('Your passkey is on.').waitFor();
    assert.equal(await dialog.count(), 0, 'the dialog is gone');
    const factors = page.getByRole('list', { name: 'Your second factors' });
    await factors.getByText(/Passkey on Linux/).waitFor();
    await factors.getByText('Authenticator app', { exact: true }).first().waitFor();

    // Escape cancels a step-up, and nothing changes.
    clock.offsetMs = 32 * 60_000;
    await page.getByRole('button', { name: /^Remove Passkey on/ }).focus();
    page.once('dialog', (d) => void d.accept());
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await page.getByText('Nothing was changed').waitFor();
    await factors.getByText(/Passkey on Linux/).waitFor();
  });

  it('an admin under MFA_REQUIRED=admin is sent to /account/security, turns on an authenticator app, then completes the dashboard sign-in with a code', async () => {
    // Without a second factor the admin API refuses (403 mfa_enrollment_required): the dashboard says what to do.
    errors.expect(/status of 403/);
    await page.goto(`${app.url}/admin`);
    await page.getByLabel('E-mail address').fill(ADMIN_EMAIL);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Turn on two-step sign-in first' }).waitFor();
    await page.getByRole('link', { name: 'Set up two-step sign-in' }).click();
    // The account page shares the dashboard's session (one refresh cookie per origin): no second sign-in.
    await page.getByRole('heading', { name: 'Security' }).waitFor();
    await page.getByText(ADMIN_EMAIL).waitFor();
    const secret = await addAuthenticatorApp();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByRole('list', { name: 'Your second factors' }).getByText('Authenticator app', { exact: true }).first().waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to manage your security' }).waitFor();

    await page.goto(`${app.url}/admin`);
    await page.getByLabel('E-mail address').fill(ADMIN_EMAIL);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
    const code = page.getByLabel('Code from your authenticator app');
    assert.equal(await code.evaluate((el) => el === document.activeElement), true, 'the code field has the focus');
    await shot(page, 'dashboard-second-step.png');
    // A wrong code is refused and the field keeps the focus.
    errors.expect(/status of 401/);
    await code.fill(String((Number(totpCode(secret, 1)) + 1) % 1_000_000).padStart(6, '0'));
    await code.press('Enter');
    await page.getByText('That code is not right').waitFor();
    // The step after the one that activated the app: a code already used is refused (no replay).
    await code.fill(totpCode(secret, 1));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await shot(page, 'dashboard-after-second-step.png');

    // Another user with an authenticator app: the admin sees the factor and resets it.
    const user = await register(http, `reset-${Date.now()}@example.com`, PASSWORD, 'Robin Reset');
    const tokens = await login(http, user.email, PASSWORD, { deviceId: 'reset-user-device' });
    const pending = await http.post('/me/factors/totp', { name: 'Phone' }, { token: tokens.access_token });
    assert.equal(pending.status, 201, pending.text);
    const activated = await http.post(`/me/factors/${pending.body.id}/verify`, { code: totpCode(pending.body.secret) }, { token: tokens.access_token });
    assert.equal(activated.status, 200, activated.text);

    await page.goto(`${app.url}/admin#/users/${user.id}`);
    await page.getByRole('heading', { name: user.email }).waitFor();
    await page.getByText('2FA', { exact: true }).first().waitFor();
    const factors = page.locator('#factors');
    await factors.getByText('Phone').waitFor();
    await factors.getByText('Authenticator app (TOTP)').waitFor();
    await shot(page, 'dashboard-user-factors.png');
    await page.getByRole('button', { name: 'Reset second factors' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset second factors?' });
    await dialog.waitFor();
    assert.equal(
      await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement),
      true,
      'Cancel has the focus: Enter never destroys',
    );
    await dialog.getByRole('button', { name: 'Reset second factors' }).click();
    await page.getByText('1 second factor removed and every device signed out.').waitFor();
    await factors.getByText('No second factor').waitFor();
    const after = await http.post('/auth/login', { email: user.email, password: PASSWORD });
    assert.equal(after.status, 200, after.text);
    assert.equal(after.body.mfaRequired, undefined, 'the password alone signs the user in again');
    assert.ok(after.body.access_token);

    // One factor of another user removed on its own.
    const other = await register(http, `remove-${Date.now()}@example.com`, PASSWORD, 'Rene Remove');
    const otherTokens = await login(http, other.email, PASSWORD, { deviceId: 'remove-user-device' });
    const otherPending = await http.post('/me/factors/totp', { name: 'Tablet' }, { token: otherTokens.access_token });
    assert.equal(otherPending.status, 201, otherPending.text);
    assert.equal(
      (await http.post(`/me/factors/${otherPending.body.id}/verify`, { code: totpCode(otherPending.body.secret) }, { token: otherTokens.access_token })).status,
      200,
    );
    await page.goto(`${app.url}/admin#/users/${other.id}`);
    await page.getByRole('heading', { name: other.email }).waitFor();
    await factors.getByText('Tablet').waitFor();
    await page.getByRole('button', { name: 'Remove Tablet' }).click();
    await page.getByRole('dialog', { name: 'Remove Tablet?' }).getByRole('button', { name: 'Remove factor' }).click();
    await page.getByText('Tablet removed.').waitFor();
    await factors.getByText('No second factor').waitFor();

    // The admin's own page lists the admin's factor, and offers no reset of it.
    const me = await http.post('/auth/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(me.body.mfaRequired, true, 'the admin now has a second step');
    await page.goto(`${app.url}/admin#/users`);
    await page.getByRole('link', { name: ADMIN_EMAIL }).click();
    await page.getByRole('heading', { name: ADMIN_EMAIL }).waitFor();
    await page.locator('#factors').getByText('Authenticator app (TOTP)').waitFor();
    await page.getByText('This is your own account.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Reset second factors' }).count(), 0, "no reset of one's own factors");
    assert.equal(
      await page
        .locator('#factors')
        .getByRole('button', { name: /^Remove/ })
        .count(),
      0,
      'nor removal of one of them',
    );
  });
});
