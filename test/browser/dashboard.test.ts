import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Page } from 'playwright-core';
import { browserSuite, shot } from '../support/browser';
import { freshDatabase, startAppAtOwnUrl } from '../support/app';
import { latchkeyProcess } from '../support/processes';
import { ProcessClock } from '../support/clock';
import { Http, eventually, login, PASSWORD, refresh, register, Tokens } from '../support/http';
import { tokenOf } from '../support/smtp';
import { dpopKey, dpopProof } from '../support/dpop';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'dashboard admin password';

const AGENTS = {
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  windows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  mac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0',
};

describe('admin dashboard in Chromium', () => {
  // Shared infrastructure only: every test makes its own users and devices and signs in on a
  // page of its own, so each can run alone (npm test -- browser --test-name-pattern=…).
  const suite = browserSuite({
    mail: true,
    // At its own URL, as a real deployment: DPoP proofs name the public origin (JWT_ISSUER).
    // No reuse grace, so a theft detection happens at once.
    app: (mail) => startAppAtOwnUrl({ ADMIN_EMAIL, ADMIN_PASSWORD, REFRESH_REUSE_GRACE: '0', ...mail }),
    page: { viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'Europe/Berlin' },
  });
  const started = Date.now();
  let serial = 0;
  after(() => {
    process.stdout.write(`browser suite took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  /** A user with three signed-in devices (iPhone, Windows, Mac), under a name no other test uses. */
  async function userWithDevices(first: string): Promise<{ user: { id: string; email: string; name: string }; devices: Record<keyof typeof AGENTS, Tokens> }> {
    const tag = `${++serial}${Date.now().toString(36)}`;
    const name = `${first} Vic${tag}`;
    const user = await register(suite.http, `${first.toLowerCase()}-${tag}@example.com`, PASSWORD, name);
    const devices = {} as Record<keyof typeof AGENTS, Tokens>;
    for (const [key, ua] of Object.entries(AGENTS) as Array<[keyof typeof AGENTS, string]>) {
      const r = await suite.http.post(
        '/auth/login',
        { email: user.email, password: PASSWORD, deviceId: `${tag}-${key}-device`, ...(key === 'iphone' ? { deviceName: `${first}'s iPhone` } : {}) },
        { headers: { 'user-agent': ua } },
      );
      assert.equal(r.status, 200, r.text);
      devices[key] = r.body;
    }
    return { user: { ...user, name }, devices };
  }

  async function signIn(p: Page, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<void> {
    await p.getByLabel('E-mail address', { exact: true }).fill(email);
    await p.getByLabel('Password', { exact: true }).fill(password);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /**
   * A second latchkey whose access tokens live `ttl`, as its own process: two apps in one
   * process would share passport's strategy registry, and the suite's app would then verify
   * with this one's keys (support/app.ts).
   */
  async function shortLivedTokens(ttl: string): Promise<{ url: string; clock: ProcessClock; stop(): Promise<void> }> {
    const db = freshDatabase();
    const clock = new ProcessClock();
    const latchkey = await (await latchkeyProcess(db, { ADMIN_EMAIL, ADMIN_PASSWORD, ACCESS_TOKEN_TTL: ttl, ...clock.env })).start();
    return {
      url: latchkey.url,
      clock,
      stop: async () => {
        await latchkey.stop();
        await db.drop();
      },
    };
  }

  /** The dashboard, signed in as the admin, on the Users page. */
  async function openSignedIn(): Promise<void> {
    await suite.page.goto(`${suite.app.url}/admin`);
    await signIn(suite.page);
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
  }

  async function openUser(user: { id: string; email: string }): Promise<void> {
    await suite.page.goto(`${suite.app.url}/admin#/users/${user.id}`);
    await suite.page.getByRole('heading', { name: user.email }).waitFor();
  }

  it('1. an admin signs in; a wrong password gets a clear message; a reload restores the session silently', async () => {
    await suite.page.goto(`${suite.app.url}/admin`);
    await suite.page.getByLabel('E-mail address', { exact: true }).waitFor();
    await shot(suite.page, '01-sign-in.png');

    suite.errors.expect(/status of 401 .*\/auth\/login$/);
    await signIn(suite.page, ADMIN_EMAIL, 'not the password');
    await suite.page.getByText('The e-mail address or password is wrong.').waitFor();

    await signIn(suite.page);
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
    await suite.page.locator('table.table-users tbody tr').first().waitFor();
    await suite.page.getByText(ADMIN_EMAIL, { exact: true }).first().waitFor();
    await shot(suite.page, '02-users.png');

    // The access token is in memory only: nothing token-like in storage or readable cookies.
    const stored = await suite.page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }));
    assert.ok(!/eyJ/.test(stored), 'no JWT in web storage or document.cookie');

    await suite.page.reload();
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
    assert.equal(await suite.page.getByLabel('Password', { exact: true }).count(), 0, 'restored from the refresh cookie, no sign-in form');
  });

  it('2. searches a user who has 3 signed-in devices', async () => {
    const { user } = await userWithDevices('Victor');
    await openSignedIn();
    await suite.page.getByLabel('Search by e-mail or name').pressSequentially(user.name.toLowerCase(), { delay: 20 });
    const rows = suite.page.locator('table.table-users tbody tr');
    await suite.page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 1);
    const row = rows.first();
    assert.equal(await row.getAttribute('data-user-id'), user.id);
    assert.equal((await row.locator('td[data-label="Active devices"]').innerText()).trim(), '3');
    await shot(suite.page, '03-search.png');

    // Keyboard only: from the search field, Tab reaches the user's link and Enter opens it.
    await suite.page.getByLabel('Search by e-mail or name').focus();
    await suite.page.keyboard.press('Tab');
    assert.equal(await suite.page.evaluate(() => document.activeElement?.textContent), user.email);
    await suite.page.keyboard.press('Enter');
    await suite.page.getByRole('heading', { name: user.email }).waitFor();
    await suite.page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 3);
    const text = await suite.page.locator('#devices').innerText();
    for (const expected of [
      "Victor's iPhone",
      'Safari 17',
      'iOS 17.4',
      'Chrome on Windows PC',
      'Chrome 124',
      'Windows 10/11',
      'Firefox on Mac',
      'Firefox 125',
      'macOS 14.4',
      '127.0.0.1',
    ]) {
      assert.ok(text.includes(expected), `device list shows ${expected}`);
    }
    assert.ok(!/[{}"]/.test(await suite.page.locator('main').innerText()), 'no raw JSON on the page');
    await suite.page.locator('#user-events li.event').first().waitFor();
    await shot(suite.page, '04-user.png');
  });

  it('marks a DPoP-bound device as key-bound, and only that one', async () => {
    const user = await register(suite.http);
    const key = await dpopKey();
    const bound = await suite.http.post(
      '/auth/login',
      { email: user.email, password: PASSWORD, deviceName: 'Bound laptop' },
      { headers: { dpop: await dpopProof(key, 'POST', `${suite.app.url}/auth/login`) } },
    );
    assert.equal(bound.body.token_type, 'DPoP', bound.text);
    const plain = await login(suite.http, user.email);
    await openSignedIn();
    await openUser(user);
    await suite.page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 2);
    const badge = (sessionId: string) => suite.page.locator(`li[data-session-id="${sessionId}"] .device-name .badge`);
    assert.equal(await badge(bound.body.session_id).innerText(), 'Key-bound');
    assert.match((await badge(bound.body.session_id).getAttribute('title')) ?? '', /DPoP/);
    assert.equal(await badge(plain.session_id).count(), 0);
  });

  it('3–4. revokes one device in the UI: its tokens stop working, the other two still work', async () => {
    const { user, devices } = await userWithDevices('Rita');
    await openSignedIn();
    await openUser(user);
    await suite.page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 3);
    const card = suite.page.locator(`li[data-session-id="${devices.iphone.session_id}"]`);
    await card.getByRole('button', { name: /Revoke/ }).click();
    const dialog = suite.page.getByRole('dialog');
    await dialog.waitFor();
    // The confirmation is keyboard-safe: Cancel has the focus and Escape backs out.
    assert.equal(await suite.page.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await shot(suite.page, '05-confirm.png', false);
    await suite.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await suite.page.locator('#devices li.device').count(), 3, 'cancelled: nothing revoked');
    assert.equal((await suite.http.get('/me', { token: devices.iphone.access_token })).status, 200);

    await card.getByRole('button', { name: /Revoke/ }).click();
    await suite.page.getByRole('dialog').getByRole('button', { name: 'Revoke device' }).click();
    await suite.page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 2);
    await suite.page.getByText("Rita's iPhone signed out.").waitFor();

    assert.equal((await suite.http.get('/me', { token: devices.iphone.access_token })).status, 401);
    const dead = await refresh(suite.http, devices.iphone.refresh_token);
    assert.equal(dead.status, 400);
    assert.equal(dead.body.error, 'invalid_grant');
    for (const key of ['windows', 'mac'] as const) {
      assert.equal((await suite.http.get('/me', { token: devices[key].access_token })).status, 200, `${key} access token still works`);
      assert.equal((await refresh(suite.http, devices[key].refresh_token)).status, 200, `${key} refresh still works`);
    }
  });

  it('5. "Sign out all devices" kills the rest', async () => {
    const { user, devices } = await userWithDevices('Sam');
    await openSignedIn();
    await openUser(user);
    await suite.page.waitForFunction(() => document.querySelectorAll('#devices li.device').length === 3);
    await suite.page.getByRole('button', { name: 'Sign out all devices' }).click();
    await suite.page.getByRole('dialog').getByRole('button', { name: 'Sign out all devices' }).click();
    await suite.page.getByText('No active devices: this user is signed out everywhere.').waitFor();
    for (const key of Object.keys(AGENTS) as Array<keyof typeof AGENTS>) {
      assert.equal((await suite.http.get('/me', { token: devices[key].access_token })).status, 401);
      assert.equal((await refresh(suite.http, devices[key].refresh_token)).body.error, 'invalid_grant');
    }
    await suite.page.getByLabel('Show signed-out devices').check();
    await suite.page.waitForFunction(() => document.querySelectorAll('#devices li.device-revoked').length === 3);
    assert.ok((await suite.page.locator('#devices').innerText()).includes('Revoked by an administrator'));
  });

  it('6. disabling blocks login; enabling lets the user back in', async () => {
    const { user } = await userWithDevices('Dora');
    await openSignedIn();
    await openUser(user);
    await suite.page.getByRole('button', { name: 'Disable account' }).click();
    await suite.page.getByRole('dialog').getByRole('button', { name: 'Disable account' }).click();
    await suite.page.locator('.user-head .badge-disabled').waitFor();
    await suite.page.getByRole('button', { name: 'Enable account' }).waitFor();
    const blocked = await suite.http.post('/auth/login', { email: user.email, password: PASSWORD });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body.error, 'account_disabled');
    await suite.page.locator('#user-events li[data-type="user_disabled"]').waitFor();
    await shot(suite.page, '06-user-disabled.png');

    await suite.page.getByRole('button', { name: 'Enable account' }).click();
    await suite.page.getByRole('dialog').getByRole('button', { name: 'Enable account' }).click();
    await suite.page.getByRole('button', { name: 'Disable account' }).waitFor();
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 200);
  });

  it('shows the events page with the 24-hour chart, a type filter, and theft detections standing out', async () => {
    // A theft detection: a rotated refresh token presented again (no grace in this app).
    const thief = await register(suite.http, `margaret-${Date.now()}@example.com`, PASSWORD, 'Margaret Hamilton');
    const t = await login(suite.http, thief.email, PASSWORD, { deviceId: 'theft-device-1' });
    assert.equal((await refresh(suite.http, t.refresh_token)).status, 200);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal((await refresh(suite.http, t.refresh_token)).body.error, 'invalid_grant');
    // Signed in before the page is, so that the page's own sign-in is the last one the chart counts.
    const adminToken = (await login(suite.http, ADMIN_EMAIL, ADMIN_PASSWORD)).access_token;
    const thefts = (await suite.http.get('/admin/events?type=refresh_token_reuse&limit=100', { token: adminToken })).body.items.length;

    await openSignedIn();
    // Every request the chart makes: the server counts per hour, the page pages through nothing.
    const chartRequests: string[] = [];
    const listen = (request: { url(): string }) => {
      const url = new URL(request.url());
      if (url.pathname === '/admin/events/hourly' || (url.pathname === '/admin/events' && url.searchParams.has('type')))
        chartRequests.push(url.pathname + url.search);
    };
    suite.page.on('request', listen);
    await suite.page.getByRole('link', { name: 'Events', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'Security events' }).waitFor();
    await suite.page.locator('svg.chart').waitFor();
    await suite.page.locator('#event-list li.event').first().waitFor();
    suite.page.off('request', listen);
    const signInBars = await suite.page.locator('svg.chart rect.chart-bar-signin').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('height'))));
    const theftBars = await suite.page.locator('svg.chart rect.chart-bar-theft').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('height'))));
    assert.equal(signInBars.length, 24);
    assert.ok(
      signInBars.some((h) => h > 0),
      'sign-ins drawn',
    );
    assert.ok(
      theftBars.some((h) => h > 0),
      'the hour with theft detections is drawn',
    );
    assert.match(await suite.page.locator('.chart-totals').innerText(), new RegExp(`${thefts} theft detections?`));
    // The bars are the server's hourly counts for the range the page asked for, one request per series.
    assert.equal(chartRequests.length, 2, chartRequests.join('\n'));
    for (const [type, bars] of [
      ['login_succeeded', 'chart-bar-signin'],
      ['refresh_token_reuse', 'chart-bar-theft'],
    ]) {
      const asked = chartRequests.find((r) => new URL(r, suite.app.url).searchParams.get('type') === type);
      assert.ok(asked?.startsWith('/admin/events/hourly?'), `the chart asks the server to count ${type}: ${chartRequests.join(', ')}`);
      const params = new URL(asked!, suite.app.url).searchParams;
      assert.equal(Date.parse(params.get('to')!) - Date.parse(params.get('from')!), 24 * 3_600_000, 'the last 24 hours');
      const server = (await suite.http.get(asked!, { token: adminToken })).body.hours.map((h: { count: number }) => h.count);
      const drawn = await suite.page.locator(`svg.chart rect.${bars}`).evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
      assert.deepEqual(drawn, server, `${type}: each bar is the server's count for its hour`);
    }
    await shot(suite.page, '07-events.png');

    await suite.page.getByLabel('Show').selectOption('refresh_token_reuse');
    await suite.page.waitForFunction((n) => {
      const items = Array.from(document.querySelectorAll('#event-list li.event'));
      return items.length === n && items.every((i) => i.getAttribute('data-type') === 'refresh_token_reuse');
    }, thefts);
    const theft = suite.page.locator('#event-list li.event-theft');
    assert.equal(await theft.count(), thefts);
    assert.match(await theft.first().innerText(), /Theft detected/i);
    const background = await theft.first().evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.notEqual(background, 'rgba(0, 0, 0, 0)', 'theft rows are highlighted');
    await shot(suite.page, '08-events-theft.png');
  });

  it('works at phone width', async () => {
    const { user } = await userWithDevices('Petra');
    for (let i = 0; i < 8; i++) await register(suite.http, `phone-${serial}-${i}-${Date.now()}@example.com`, PASSWORD, `Phone Person ${i}`);
    await suite.page.setViewportSize({ width: 390, height: 844 });
    await openSignedIn();
    await suite.page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length >= 8);
    const overflow = await suite.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
    await shot(suite.page, '09-users-phone.png');
    await openUser(user);
    await suite.page.locator('#user-events li.event').first().waitFor();
    assert.ok((await suite.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)) <= 0);
    await shot(suite.page, '10-user-phone.png');
  });

  it("returns to sign-in with a clear message when the admin's own session is revoked elsewhere", async () => {
    await openSignedIn();
    // From another device, the admin signs out every other session: the dashboard's among them.
    const other = await login(suite.http, ADMIN_EMAIL, ADMIN_PASSWORD, { deviceId: `admin-laptop-${Date.now()}` });
    assert.equal((await suite.http.post('/auth/logout?scope=others', undefined, { token: other.access_token })).status, 204);
    suite.errors.expect(/status of 401 /, /status of 400 .*\/auth\/token$/);
    // Nothing is clicked: the page's session watch (@latchkey/client) hears of the revocation.
    await suite.page.getByText('Your session has ended. Please sign in again.').waitFor();
    await signIn(suite.page);
    await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
  });

  it('7. a non-admin cannot get in, and is signed out again', async () => {
    const outsider = await register(suite.http, `outsider-${Date.now()}@example.com`, PASSWORD, 'Oscar Outsider');
    await openSignedIn();
    await suite.page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await suite.page.getByText('You are signed out.').waitFor();
    await signIn(suite.page, outsider.email, PASSWORD);
    await suite.page.getByText('This account is not an administrator').waitFor();
    assert.equal(await suite.page.getByRole('heading', { name: 'Users' }).count(), 0);
    await shot(suite.page, '11-not-admin.png');

    const admin = await login(suite.http, ADMIN_EMAIL, ADMIN_PASSWORD);
    const seen = await suite.http.get(`/admin/users/${outsider.id}`, { token: admin.access_token });
    assert.equal(seen.body.lastLoginAt !== null, true, 'the sign-in itself worked');
    assert.equal(seen.body.activeSessions, 0, 'and the dashboard signed it out again');
    await suite.page.reload();
    await suite.page.getByLabel('E-mail address', { exact: true }).waitFor();
    assert.equal(await suite.page.getByRole('heading', { name: 'Users' }).count(), 0, 'no session to restore');
  });

  it('signs out even after the access token expired while the page slept, and the refresh cookie goes with it', async () => {
    const short = await shortLivedTokens('2s');
    try {
      // The page's timers stand still, as on a laptop that slept: no silent refresh happens.
      await suite.page.clock.install();
      await suite.page.clock.pauseAt(Date.now());
      await suite.page.goto(`${short.url}/admin`);
      await signIn(suite.page);
      await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
      assert.ok(
        (await suite.context.cookies()).some((c) => c.name === 'latchkey_refresh'),
        'signed in with the refresh cookie',
      );
      short.clock.advance(2500); // the access token expires on the server
      const logout = suite.page.waitForResponse((r) => r.url().endsWith('/auth/logout'));
      await suite.page.getByRole('button', { name: 'Sign out', exact: true }).click();
      const answer = await logout;
      assert.equal(answer.status(), 204, 'the server ended the session from the cookie');
      assert.equal(answer.request().headers()['x-latchkey-csrf'], '1');
      assert.equal(answer.request().headers().authorization, undefined, 'no (expired) access token was needed');
      await suite.page.getByText('You are signed out.').waitFor();
      assert.equal(
        (await suite.context.cookies()).some((c) => c.name === 'latchkey_refresh'),
        false,
        'the cookie is gone',
      );
      const admin = await login(new Http(short.url), ADMIN_EMAIL, ADMIN_PASSWORD);
      const sessions = await new Http(short.url).get(`/admin/users/${admin.user!.id}/sessions?include=revoked`, { token: admin.access_token });
      const dashboard = sessions.body.items.filter((x: { deviceName: string | null }) => x.deviceName === 'Admin dashboard');
      assert.ok(
        dashboard.length >= 1 && dashboard.every((x: { revokedReason: string | null }) => x.revokedReason === 'user_logout'),
        'its session is revoked on the server',
      );
    } finally {
      await short.stop();
    }
  });

  it('pages through search results with Next and Previous', async () => {
    const tag = `pager${Date.now().toString(36)}`;
    for (let i = 0; i < 23; i++) await register(suite.http, `${tag}-${i}@example.com`, PASSWORD, `Pager Person ${i}`);
    await openSignedIn();
    // The unfiltered list also has 20 rows: wait for the (debounced) search's own answer.
    const searched = suite.page.waitForResponse((r) => r.url().includes('/admin/users?') && r.url().includes(`q=${tag}`));
    await suite.page.getByLabel('Search by e-mail or name').fill(tag);
    await searched;
    const rows = suite.page.locator('table.table-users tbody tr');
    await suite.page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 20);
    const firstPage = await rows.allInnerTexts();
    const pager = suite.page.getByRole('navigation', { name: 'Pages of users' });
    await pager.getByText('Page 1').waitFor();
    assert.equal(await pager.getByRole('button', { name: '← Previous' }).isDisabled(), true);
    await pager.getByRole('button', { name: 'Next →' }).click();
    await pager.getByText('Page 2').waitFor();
    await suite.page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 3);
    assert.equal(await pager.getByRole('button', { name: 'Next →' }).isDisabled(), true, 'the last page');
    const secondPage = await rows.allInnerTexts();
    assert.equal(new Set([...firstPage, ...secondPage]).size, 23, 'no duplicates across pages');
    await pager.getByRole('button', { name: '← Previous' }).click();
    await pager.getByText('Page 1').waitFor();
    await suite.page.waitForFunction(() => document.querySelectorAll('table.table-users tbody tr').length === 20);
    assert.deepEqual(await rows.allInnerTexts(), firstPage, 'Previous returns to exactly the first page');
  });

  it('resource servers: adds one and shows its secret once with a copy button, and removes it behind a confirmation', async () => {
    await suite.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: suite.app.url });
    await openSignedIn();
    await suite.page.getByRole('link', { name: 'Resource servers', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'Resource servers' }).waitFor();
    const name = `orders-${Date.now().toString(36)}`;
    await suite.page.getByLabel('Name').fill(name);
    await suite.page.getByRole('button', { name: 'Add resource server' }).click();
    await suite.page.getByRole('heading', { name: `${name} is registered` }).waitFor();
    const clientId = (await suite.page.locator('#server-client-id').innerText()).trim();
    const secret = (await suite.page.locator('#server-secret').innerText()).trim();
    assert.match(secret, /^lkrs_/);
    await suite.page.getByRole('button', { name: 'Copy secret' }).click();
    await suite.page.getByText('The secret is on the clipboard.').waitFor();
    assert.equal(await suite.page.evaluate(() => navigator.clipboard.readText()), secret, 'the copy button copies exactly the secret');
    // The credentials work against the feed, and the list shows the server without its secret.
    const basic = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
    assert.equal((await suite.http.get('/auth/revocations', { headers: { authorization: basic } })).status, 200);
    const row = suite.page.locator(`tr[data-client-id="${clientId}"]`);
    await row.waitFor();
    await shot(suite.page, '12-resource-servers.png');
    await suite.page.reload();
    await suite.page.getByRole('heading', { name: 'Resource servers' }).waitFor();
    await row.waitFor();
    assert.equal(await suite.page.getByText(secret).count(), 0, 'after a reload the secret is gone for good');

    await row.getByRole('button', { name: 'Remove' }).click();
    const dialog = suite.page.getByRole('dialog');
    await dialog.waitFor();
    assert.equal(await suite.page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'Cancel has the focus');
    await dialog.getByRole('button', { name: 'Remove resource server' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await suite.http.get('/auth/revocations', { headers: { authorization: basic } })).status, 401, 'its credentials no longer work');
  });

  it('the user page says whether the address is confirmed, and sends a password reset whose link the admin never sees', async () => {
    const { user } = await userWithDevices('Resetta');
    await openSignedIn();
    await openUser(user);
    await suite.page.locator('.user-head .badge-unverified').waitFor();
    await suite.page.getByRole('button', { name: 'Send password reset' }).click();
    await suite.page.getByRole('dialog').getByRole('button', { name: 'Send reset e-mail' }).click();
    await suite.page.getByText(`Reset e-mail sent to ${user.email}.`).waitFor();
    const mail = await suite.smtp.next(user.email, /Reset your/);
    assert.equal(await suite.page.getByText(tokenOf(mail, 'reset-password')).count(), 0, 'the link is nowhere on the page');
    await suite.page.locator('#user-events').getByText('Password reset e-mailed').waitFor();
    await shot(suite.page, '13-user-reset-sent.png');
    // The user confirms the address; the badge follows.
    const verification = await suite.smtp.next(user.email, /Confirm your e-mail/);
    assert.equal((await suite.http.post('/auth/email/verify', { token: tokenOf(verification, 'verify-email') })).status, 200);
    await suite.page.reload();
    await suite.page.locator('.user-head .badge-verified').waitFor();
  });

  it('refreshes the access token silently before it expires, with the CSRF header', async () => {
    const short = await shortLivedTokens('3s');
    try {
      const refreshes: Array<{ csrf: string | undefined; status: number }> = [];
      suite.page.on('response', (r) => {
        if (r.url().endsWith('/auth/token')) refreshes.push({ csrf: r.request().headers()['x-latchkey-csrf'], status: r.status() });
      });
      await suite.page.goto(`${short.url}/admin`);
      await signIn(suite.page);
      await suite.page.getByRole('heading', { name: 'Users' }).waitFor();
      // The page must refresh on its own, before the first token's 3 s are out: waited for, not slept.
      await eventually(async () => refreshes.length >= 1, 10_000, 50);
      assert.ok(refreshes.length >= 1, 'refreshed in the background');
      assert.ok(
        refreshes.every((r) => r.csrf === '1' && r.status === 200),
        JSON.stringify(refreshes),
      );
      await suite.page.getByRole('link', { name: 'Events', exact: true }).click();
      await suite.page.locator('#event-list li.event').first().waitFor();
      assert.equal(await suite.page.getByLabel('Password', { exact: true }).count(), 0, 'still signed in');
    } finally {
      await short.stop();
    }
  });
});
