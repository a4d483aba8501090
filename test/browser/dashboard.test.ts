import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { startApp, TestApp } from '../support/app';
import { Http, login, PASSWORD, refresh, register, Tokens } from '../support/http';

const ROOT = join(__dirname, '../../..');
const SHOTS = join(ROOT, 'test-output', 'screenshots');
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'dashboard admin password';

const AGENTS = {
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  windows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  mac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0',
};

/** Debian's Chromium, never a downloaded browser. */
function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Collects everything the page logs as an error, and uncaught exceptions. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') errors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

async function shot(page: Page, name: string, fullPage = true): Promise<string> {
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage });
  return path;
}

describe('admin dashboard in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  /** Failed responses the flow provokes on purpose; Chromium logs them as console errors. */
  const expectedErrors: RegExp[] = [];
  let victim: { id: string; email: string };
  const devices: Record<keyof typeof AGENTS, Tokens> = {} as never;
  let outsider: { id: string; email: string };
  const started = Date.now();

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // No reuse grace, so the theft detection below happens at once.
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD, REFRESH_REUSE_GRACE: '0' });
    http = new Http(app.url);

    victim = await register(http, 'victor@example.com', PASSWORD, 'Victor Victim');
    for (const [key, ua] of Object.entries(AGENTS) as Array<[keyof typeof AGENTS, string]>) {
      const r = await http.post('/auth/login', { email: victim.email, password: PASSWORD, deviceId: `victim-${key}-device`, ...(key === 'iphone' ? { deviceName: "Victor's iPhone" } : {}) }, { headers: { 'user-agent': ua } });
      assert.equal(r.status, 200, r.text);
      devices[key] = r.body;
    }
    for (const name of ['Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov']) {
      const email = `${name.split(' ')[0].toLowerCase()}@example.com`;
      await register(http, email, PASSWORD, name);
      await http.post('/auth/login', { email, password: PASSWORD, deviceId: `${email}-laptop` }, { headers: { 'user-agent': AGENTS.mac } });
    }
    outsider = await register(http, 'outsider@example.com', PASSWORD, 'Oscar Outsider');

    // A theft detection for the events page: a rotated refresh token presented again.
    const thief = await register(http, 'margaret@example.com', PASSWORD, 'Margaret Hamilton');
    const t = await login(http, thief.email, PASSWORD, { deviceId: 'theft-device-1' });
    assert.equal((await refresh(http, t.refresh_token)).status, 200);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal((await refresh(http, t.refresh_token)).body.error, 'invalid_grant');

    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'Europe/Berlin' });
    page = await context.newPage();
    errors = watchErrors(page);
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    process.stdout.write(`browser suite took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  it('1. an admin signs in; a wrong password gets a clear message; a reload restores the session silently', async () => {
    await page.goto(`${app.url}/admin`);
    await page.getByLabel('E-mail address').waitFor();
    await shot(page, '01-sign-in.png');

    await page.getByLabel('E-mail address').fill(ADMIN_EMAIL);
    expectedErrors.push(/status of 401 .*\/auth\/login$/);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The e-mail address or password is wrong.').waitFor();

    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.locator('table.table-users tbody tr').first().waitFor();
    await page.getByText(ADMIN_EMAIL, { exact: true }).first().waitFor();
    await shot(page, '02-users.png');

    // The access token is in memory only: nothing token-like in storage or readable cookies.
    const stored = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }));
    assert.ok(!/eyJ/.test(stored), 'no JWT in web storage or document.cookie');

    await page.reload();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    assert.equal(await page.getByLabel('Password').count(), 0, 'restored from the refresh cookie, no sign-in form');
  });

  it('2. searches a user who has 3 signed-in devices', async () => {
    await page.getByLabel('Search by e-mail or name').pressSequentially('victor vic', { delay: 20 });
    const rows = page.locator('table.table-users tbody tr');
    await page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 1);
    assert.equal(await rows.count(), 1);
    const row = rows.first();
    assert.equal(await row.getAttribute('data-user-id'), victim.id);
    assert.equal((await row.locator('td[data-label="Active devices"]').innerText()).trim(), '3');
    await shot(page, '03-search.png');

    // Keyboard only: from the search field, Tab reaches the user's link and Enter opens it.
    await page.getByLabel('Search by e-mail or name').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), victim.email);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: victim.email }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 3);
    const text = await page.locator('#devices').innerText();
    for (const expected of ["Victor's iPhone", 'Safari 17', 'iOS 17.4', 'Chrome on Windows PC', 'Chrome 124', 'Windows 10/11', 'Firefox on Mac', 'Firefox 125', 'macOS 14.4', '127.0.0.1']) {
      assert.ok(text.includes(expected), `device list shows ${expected}`);
    }
    assert.ok(!/[{}"]/.test(await page.locator('main').innerText()), 'no raw JSON on the page');
    await page.locator('#user-events li.event').first().waitFor();
    await shot(page, '04-user.png');
  });

  it('3–4. revokes one device in the UI: its tokens stop working, the other two still work', async () => {
    const card = page.locator(`li[data-session-id="${devices.iphone.session_id}"]`);
    await card.getByRole('button', { name: /Revoke/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    // The confirmation is keyboard-safe: Cancel has the focus and Escape backs out.
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await shot(page, '05-confirm.png', false);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#devices li.device').count(), 3, 'cancelled: nothing revoked');
    assert.equal((await http.get('/me', { token: devices.iphone.access_token })).status, 200);

    await card.getByRole('button', { name: /Revoke/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke device' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 2);
    await page.getByText("Victor's iPhone signed out.").waitFor();

    assert.equal((await http.get('/me', { token: devices.iphone.access_token })).status, 401);
    const dead = await refresh(http, devices.iphone.refresh_token);
    assert.equal(dead.status, 400);
    assert.equal(dead.body.error, 'invalid_grant');
    for (const key of ['windows', 'mac'] as const) {
      assert.equal((await http.get('/me', { token: devices[key].access_token })).status, 200, `${key} access token still works`);
      const r = await refresh(http, devices[key].refresh_token);
      assert.equal(r.status, 200, `${key} refresh still works`);
      devices[key] = { ...devices[key], ...r.body };
    }
  });

  it('5. "Sign out all devices" kills the rest', async () => {
    await page.getByRole('button', { name: 'Sign out all devices' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Sign out all devices' }).click();
    await page.getByText('No active devices: this user is signed out everywhere.').waitFor();
    for (const key of ['windows', 'mac'] as const) {
      assert.equal((await http.get('/me', { token: devices[key].access_token })).status, 401);
      assert.equal((await refresh(http, devices[key].refresh_token)).body.error, 'invalid_grant');
    }
    await page.getByLabel('Show signed-out devices').check();
    await page.waitForFunction(() => document.querySelectorAll('#devices li.device-revoked').length === 3);
    const text = await page.locator('#devices').innerText();
    assert.ok(text.includes('Revoked by an administrator'));
  });

  it('6. disabling blocks login; enabling lets the user back in', async () => {
    await page.getByRole('button', { name: 'Disable account' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable account' }).click();
    await page.locator('.user-head .badge-disabled').waitFor();
    await page.getByRole('button', { name: 'Enable account' }).waitFor();
    const blocked = await http.post('/auth/login', { email: victim.email, password: PASSWORD });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body.error, 'account_disabled');
    await page.locator('#user-events li[data-type="user_disabled"]').waitFor();
    await shot(page, '06-user-disabled.png');

    await page.getByRole('button', { name: 'Enable account' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Enable account' }).click();
    await page.getByRole('button', { name: 'Disable account' }).waitFor();
    assert.equal((await http.post('/auth/login', { email: victim.email, password: PASSWORD })).status, 200);
  });

  it('shows the events page with the 24-hour chart, a type filter, and theft detections standing out', async () => {
    await page.getByRole('link', { name: 'Events', exact: true }).click();
    await page.getByRole('heading', { name: 'Security events' }).waitFor();
    await page.locator('svg.chart').waitFor();
    await page.locator('#event-list li.event').first().waitFor();
    const signInBars = await page.locator('svg.chart rect.chart-bar-signin').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('height'))));
    const theftBars = await page.locator('svg.chart rect.chart-bar-theft').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('height'))));
    assert.equal(signInBars.length, 24);
    assert.ok(signInBars.some((h) => h > 0), 'sign-ins drawn');
    assert.equal(theftBars.filter((h) => h > 0).length, 1, 'one hour with a theft detection');
    assert.match(await page.locator('.chart-totals').innerText(), /1 theft detection/);
    await shot(page, '07-events.png');

    await page.getByLabel('Show').selectOption('refresh_token_reuse');
    await page.waitForFunction(() => {
      const items = Array.from(document.querySelectorAll('#event-list li.event'));
      return items.length === 1 && items[0].getAttribute('data-type') === 'refresh_token_reuse';
    });
    const theft = page.locator('#event-list li.event-theft');
    assert.equal(await theft.count(), 1);
    assert.match(await theft.innerText(), /Theft detected/i);
    const background = await theft.evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.notEqual(background, 'rgba(0, 0, 0, 0)', 'theft rows are highlighted');
    await shot(page, '08-events-theft.png');
  });

  it('works at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByLabel('Search by e-mail or name').fill('');
    await page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length >= 8);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
    await shot(page, '09-users-phone.png');
    await page.locator(`tr[data-user-id="${victim.id}"] a`).click();
    await page.getByRole('heading', { name: victim.email }).waitFor();
    await page.locator('#user-events li.event').first().waitFor();
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)) <= 0);
    await shot(page, '10-user-phone.png');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('returns to sign-in with a clear message when the admin\'s own session is revoked elsewhere', async () => {
    const other = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD, { deviceId: 'admin-laptop-2' });
    const mine = await http.get(`/admin/users/${other.user!.id}/sessions`, { token: other.access_token });
    const dashboard = mine.body.items.find((s: { deviceName: string | null }) => s.deviceName === 'Admin dashboard');
    assert.ok(dashboard, 'the dashboard signs in as its own device');
    assert.equal((await http.delete(`/admin/sessions/${dashboard.id}`, { token: other.access_token })).status, 204);
    expectedErrors.push(/status of 401 .*\/admin\/users/, /status of 400 .*\/auth\/token$/);
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByText('Your session has ended. Please sign in again.').waitFor();
    await page.getByLabel('E-mail address').waitFor();
    await page.getByLabel('E-mail address').fill(ADMIN_EMAIL);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
  });

  it('7. a non-admin cannot get in, and is signed out again', async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByText('You are signed out.').waitFor();
    await page.getByLabel('E-mail address').fill(outsider.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('This account is not an administrator').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Users' }).count(), 0);
    await shot(page, '11-not-admin.png');

    const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    const seen = await http.get(`/admin/users/${outsider.id}`, { token: admin.access_token });
    assert.equal(seen.body.lastLoginAt !== null, true, 'the sign-in itself worked');
    assert.equal(seen.body.activeSessions, 0, 'and the dashboard signed it out again');
    await page.reload();
    await page.getByLabel('E-mail address').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Users' }).count(), 0, 'no session to restore');
  });

  it('pages through search results with Next and Previous', async () => {
    for (let i = 0; i < 23; i++) await register(http, `pager-${i}@example.com`, PASSWORD, `Pager Person ${i}`);
    // A context of its own: the users added here would push others off the first page above.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      const p = await ctx.newPage();
      const pageErrors = watchErrors(p);
      await p.goto(`${app.url}/admin`);
      await p.getByLabel('E-mail address').fill(ADMIN_EMAIL);
      await p.getByLabel('Password').fill(ADMIN_PASSWORD);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Users' }).waitFor();
      // The unfiltered list also has 20 rows: wait for the (debounced) search's own answer.
      const searched = p.waitForResponse((r) => r.url().includes('/admin/users?') && r.url().includes('q=pager'));
      await p.getByLabel('Search by e-mail or name').fill('pager person');
      await searched;
      const rows = p.locator('table.table-users tbody tr');
      await p.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 20);
      const firstPage = await rows.allInnerTexts();
      const pager = p.getByRole('navigation', { name: 'Pages of users' });
      await pager.getByText('Page 1').waitFor();
      assert.equal(await pager.getByRole('button', { name: '← Previous' }).isDisabled(), true);
      await pager.getByRole('button', { name: 'Next →' }).click();
      await pager.getByText('Page 2').waitFor();
      await p.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 3);
      assert.equal(await pager.getByRole('button', { name: 'Next →' }).isDisabled(), true, 'the last page');
      const secondPage = await rows.allInnerTexts();
      assert.equal(new Set([...firstPage, ...secondPage]).size, 23, 'no duplicates across pages');
      await pager.getByRole('button', { name: '← Previous' }).click();
      await pager.getByText('Page 1').waitFor();
      await p.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 20);
      assert.deepEqual(await rows.allInnerTexts(), firstPage, 'Previous returns to exactly the first page');
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
    }
  });

  it('refreshes the access token silently before it expires, with the CSRF header', async () => {
    const short = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD, ACCESS_TOKEN_TTL: '3s' });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      const p = await ctx.newPage();
      const pageErrors = watchErrors(p);
      const refreshes: Array<{ csrf: string | undefined; status: number }> = [];
      p.on('response', (r) => {
        if (r.url().endsWith('/auth/token')) refreshes.push({ csrf: r.request().headers()['x-latchkey-csrf'], status: r.status() });
      });
      await p.goto(`${short.url}/admin`);
      await p.getByLabel('E-mail address').fill(ADMIN_EMAIL);
      await p.getByLabel('Password').fill(ADMIN_PASSWORD);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Users' }).waitFor();
      // Well past the first token's lifetime: the page must have refreshed on its own.
      await p.waitForTimeout(4500);
      assert.ok(refreshes.length >= 1, 'refreshed in the background');
      assert.ok(refreshes.every((r) => r.csrf === '1' && r.status === 200), JSON.stringify(refreshes));
      await p.getByRole('link', { name: 'Events', exact: true }).click();
      await p.locator('#event-list li.event').first().waitFor();
      assert.equal(await p.getByLabel('Password').count(), 0, 'still signed in');
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
      await short.close();
    }
  });

  it('logged no console errors and threw nothing', () => {
    if (errors.length) process.stdout.write(`console errors seen (all provoked on purpose): ${JSON.stringify(errors)}\n`);
    const unexpected = errors.filter((e) => !expectedErrors.some((pattern) => pattern.test(e)));
    assert.deepEqual(unexpected, []);
  });
});
