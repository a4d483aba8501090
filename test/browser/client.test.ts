import { after, before, describe, it, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { launch, PageErrors } from '../support/browser';
import { startAppAtOwnUrl, TestApp } from '../support/app';
import { Http, login as loginTokens, PASSWORD, register } from '../support/http';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';
import { Secret, TOTP } from 'otpauth';
import { auditCount } from '../support/db';
import { MetricsService } from '../../src/metrics/metrics.service';

const ROOT = join(__dirname, '../../..');
const BUNDLE = join(ROOT, 'packages/client/dist/latchkey-client.js');
/** Short enough that a loop of 20 calls crosses two expiries. */
const TTL_S = 6;
/**
 * The client's refresh period for that lifetime: it counts the token dead 1 s early (a truncated
 * `iat`) and refreshes 20% of the lifetime before that, plus up to 250 ms of jitter. So 3.8 s at
 * the least, and a window of `ms` holds at most floor(ms / period) + 1 refreshes, whatever its
 * phase; one refresh per tab would be three times that.
 */
const REFRESH_PERIOD_MS = (TTL_S - 1) * 1000 - TTL_S * 200;
const mostRefreshesIn = (ms: number) => Math.floor(ms / REFRESH_PERIOD_MS) + 1;

/** The test page: the client bundle and a few handles for the test to drive it. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>client test</title>
<script type="module">
import { createClient } from '/client-test/latchkey-client.js';
window.ended = [];
window.setup = (options) => {
  window.client = createClient(options);
  window.client.addEventListener('sessionended', (e) => window.ended.push({ reason: e.reason, at: Date.now() }));
};
window.calls = async (n, gapMs) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    try { out.push((await window.client.fetch('/me')).status); } catch (e) { out.push(e.code ?? String(e)); }
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return out;
};
window.ready = true;
</script>`;

interface Tab {
  page: Page;
  errors: PageErrors;
}

describe('@latchkey/client in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let browser: Browser;
  /** The server's: moved where a token must expire on the server while the pages' clocks stand still. */
  const serverClock = new ShiftedClock();

  before(async () => {
    // At its own URL, as a real deployment: DPoP proofs name the public origin (JWT_ISSUER).
    app = await startAppAtOwnUrl({ ACCESS_TOKEN_TTL: `${TTL_S}s` }, undefined, [{ provide: Clock, useValue: serverClock }]);
    http = new Http(app.url);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  /**
   * A browser profile (one origin's storage, locks and channels) with the test page routed in at
   * latchkey's origin. It closes when the test ends, failed or not: a profile left open keeps
   * refreshing and would throw off the next test's counts.
   */
  async function profile(test: TestContext, options: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> {
    const context = await browser.newContext(options);
    test.after(() => context.close());
    const bundle = readFileSync(BUNDLE);
    await context.route(`${app.url}/client-test/**`, (route) => {
      const url = new URL(route.request().url());
      if (url.pathname.endsWith('.js')) return route.fulfill({ status: 200, contentType: 'text/javascript', body: bundle });
      return route.fulfill({ status: 200, contentType: 'text/html', body: PAGE });
    });
    return context;
  }

  async function tab(context: BrowserContext, setup: Record<string, unknown>): Promise<Tab> {
    const page = await context.newPage();
    const errors = new PageErrors(page);
    // Chromium logs every refused answer as a console error: the 401s and 400s these tests provoke.
    errors.expect(/status of 40[01]/);
    await page.goto(`${app.url}/client-test/index.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    await page.evaluate((o) => (window as any).setup(o), setup);
    return { page, errors };
  }

  /** Three tabs of one profile: the first signs in, the other two pick the session up. */
  async function threeTabs(context: BrowserContext, setup: Record<string, unknown>, email: string): Promise<Tab[]> {
    const first = await tab(context, setup);
    await login(first, email);
    const tabs = [first];
    for (let i = 0; i < 2; i++) {
      const t = await tab(context, setup);
      assert.equal(await restore(t), true, 'a new tab picks up the session');
      tabs.push(t);
    }
    return tabs;
  }

  const login = (t: Tab, email: string) => t.page.evaluate(([e, p]) => (window as any).client.login(e, p), [email, PASSWORD]);
  const restore = (t: Tab) => t.page.evaluate(() => (window as any).client.restore() as Promise<boolean>);
  const calls = (t: Tab, n: number, gapMs: number) =>
    t.page.evaluate(([count, gap]) => (window as any).calls(count, gap) as Promise<Array<number | string>>, [n, gapMs]);
  const ended = (t: Tab) => t.page.evaluate(() => (window as any).ended as Array<{ reason: string }>);

  async function refreshCounts(): Promise<{ rotated: number; grace: number }> {
    const values = (await app.app.get(MetricsService).refreshes.get()).values;
    const count = (outcome: string) => values.filter((v) => v.labels.outcome === outcome).reduce((sum, v) => sum + v.value, 0);
    return { rotated: count('rotated'), grace: count('grace') };
  }

  async function sessionOf(t: Tab): Promise<string> {
    return t.page.evaluate(() => (window as any).client.session.sessionId as string);
  }

  for (const [mode, withoutLocks] of [
    ['cookie', false],
    ['dpop', false],
    ['cookie', true],
  ] as const) {
    it(`${mode} mode${withoutLocks ? ', without Web Locks (the BroadcastChannel election)' : ''}: three tabs, 20 calls each across two expiries: no sign-out, no reuse, one refresh per expiry`, async (test) => {
      const user = await register(http);
      const context = await profile(test);
      if (withoutLocks) await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }));
      const tabs = await threeTabs(context, { mode, watchSession: false }, user.email);
      const sessionId = await sessionOf(tabs[0]);
      for (const t of tabs) assert.equal(await sessionOf(t), sessionId, 'one session for the origin');
      if (withoutLocks) assert.equal(await tabs[0].page.evaluate(() => navigator.locks === undefined), true, 'the tabs have no Web Locks');
      const before = await refreshCounts();
      const started = Date.now();
      const results = await Promise.all(tabs.map((t) => calls(t, 20, 700)));
      const elapsed = Date.now() - started;
      for (const r of results) assert.deepEqual(r, Array(20).fill(200), 'every call succeeded');
      for (const t of tabs) assert.deepEqual(await ended(t), [], 'no tab was signed out');
      const after = await refreshCounts();
      const rotations = after.rotated - before.rotated;
      const expiries = Math.floor(elapsed / (TTL_S * 1000));
      assert.ok(expiries >= 2, `the loop crossed two expiries (${elapsed} ms)`);
      assert.ok(rotations >= 2 && rotations <= mostRefreshesIn(elapsed), `${rotations} refreshes in ${elapsed} ms`);
      assert.equal(after.grace - before.grace, 0, 'no tab presented a link another had just spent');
      assert.equal(await auditCount(app, 'refresh_token_reuse', { sessionId }), 0);
      const row = await app.database.rows<{ revoked_at: unknown }>('SELECT revoked_at FROM sessions WHERE id = ?', [sessionId]);
      assert.equal(row[0].revoked_at, null);
      await context.close();
      for (const t of tabs) t.errors.assertNoneUnexpected();
    });
  }

  it('three tabs that wake from sleep past the expiry do not stampede: one refresh, and every tab works', async (test) => {
    const user = await register(http);
    const context = await profile(test);
    await context.clock.install();
    const tabs = await threeTabs(context, { mode: 'dpop', watchSession: false }, user.email);
    // The lid closes: the pages' timers stand still while the access token expires on the server.
    await context.clock.pauseAt(Date.now() + 500);
    const before = await refreshCounts();
    serverClock.advance(TTL_S * 1000 + 500);
    // It opens: every tab's refresh timer is due at the same moment.
    await context.clock.fastForward(TTL_S * 1000 + 500);
    await context.clock.resume();
    const results = await Promise.all(tabs.map((t) => calls(t, 1, 0)));
    assert.deepEqual(results, [[200], [200], [200]]);
    const after = await refreshCounts();
    assert.equal(after.rotated - before.rotated, 1, 'one refresh for the three tabs');
    assert.equal(after.grace - before.grace, 0);
    for (const t of tabs) assert.deepEqual(await ended(t), []);
    await context.close();
  });

  it('after a 401 that a refresh cures, sends a GET once more, and never a POST by itself', async (test) => {
    const user = await register(http);
    const context = await profile(test);
    await context.clock.install();
    const t = await tab(context, { watchSession: false });
    await login(t, user.email);
    // The page's clock stands still, so the client sends a token the server has seen expire.
    await context.clock.pauseAt(Date.now() + 500);
    const sent: string[] = [];
    t.page.on('request', (r) => {
      if (!r.url().endsWith('/auth/token')) sent.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    const send = (method: string, path: string) =>
      t.page.evaluate(async ([m, p]) => (await (window as any).client.fetch(p, { method: m })).status as number, [method, path]);
    const enable = `/admin/users/${user.id}/enable`;

    serverClock.advance(TTL_S * 1000 + 500);
    assert.equal(await send('POST', enable), 401, 'the POST is answered with its 401');
    assert.deepEqual(sent, [`POST ${enable}`], 'and was not sent again');
    assert.equal(await send('POST', enable), 403, 'the refresh it caused makes the next call go through (to the role check)');

    serverClock.advance(TTL_S * 1000 + 500);
    sent.length = 0;
    assert.equal(await send('GET', '/me'), 200, 'the GET is repeated after the refresh');
    assert.deepEqual(sent, ['GET /me', 'GET /me']);
    await context.close();
  });

  it('a logout in one tab ends the session in the others, as a logout (even while another tab watches the session), and they stop sending tokens', async (test) => {
    const user = await register(http);
    const context = await profile(test);
    // Tab 1 holds the session watch; the logout comes from tab 2, whose revocation tab 1 then hears of.
    const tabs = await threeTabs(context, { watchSession: true }, user.email);
    [tabs[0], tabs[1]] = [tabs[1], tabs[0]];
    await tabs[1].page.waitForTimeout(300);
    const sessionId = await sessionOf(tabs[0]);
    const refreshes: string[] = [];
    context.on('request', (r) => {
      if (r.url().endsWith('/auth/token')) refreshes.push(r.url());
    });
    const loggedOutAt = await tabs[0].page.evaluate(async () => {
      await (window as any).client.logout();
      return Date.now();
    });
    for (const t of tabs.slice(1)) await t.page.waitForFunction(() => (window as any).ended.length > 0, undefined, { timeout: 5000 });
    for (const t of tabs)
      assert.deepEqual(
        (await ended(t)).map((e) => e.reason),
        ['logout'],
      );
    assert.deepEqual(refreshes, [], 'no tab tried to refresh a session that was signed out');
    const lags = await Promise.all(tabs.slice(1).map(async (t) => (await t.page.evaluate(() => (window as any).ended[0].at as number)) - loggedOutAt));
    console.log(`  sessionended in the other tabs ${lags.join(' and ')} ms after the logout returned`);
    for (const t of tabs) assert.deepEqual(await calls(t, 1, 0), ['signed_out'], 'no token is sent any more');
    const row = await app.database.rows<{ revoked_reason: string }>('SELECT revoked_reason FROM sessions WHERE id = ?', [sessionId]);
    assert.equal(row[0].revoked_reason, 'user_logout');
    await context.close();
  });

  it('a logout while the tab is still opening its session stream closes the stream first, so it never presents the revoked token', async (test) => {
    const user = await register(http);
    const context = await profile(test);
    // The stream's request held in flight, as on a slow network, until after the logout.
    let held!: Route;
    const opening = new Promise<void>((resolve) =>
      context.route(`${app.url}/auth/session/events`, (route) => {
        held = route;
        resolve();
      }),
    );
    const t = await tab(context, { watchSession: true });
    await login(t, user.email);
    await opening;
    const stream = held.request();
    const fate = Promise.race([
      t.page.waitForEvent('requestfailed', { predicate: (r) => r === stream }).then(() => 'closed by the page'),
      stream.response().then((r) => `answered ${r?.status()}`),
    ]);
    await t.page.evaluate(() => (window as any).client.logout());
    await held.continue().catch(() => undefined);
    assert.equal(await fate, 'closed by the page', 'the tab closed its stream rather than let latchkey refuse the revoked token');
    assert.deepEqual(
      (await ended(t)).map((e) => e.reason),
      ['logout'],
    );
    await context.close();
  });

  it('a password change from another device signs out every tab, though none of them calls', async (test) => {
    const user = await register(http);
    const context = await profile(test);
    const tabs = await threeTabs(context, { watchSession: true }, user.email);
    const phone = (await http.post('/auth/login', { email: user.email, password: PASSWORD })).body;
    // The watching tab's stream is open before the change (it opens as the session starts).
    await tabs[0].page.waitForTimeout(300);
    const changed = Date.now();
    assert.equal(
      (await http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'a brand new password 9' }, { token: phone.access_token })).status,
      200,
    );
    // Nobody calls: the tab that watches the session hears of the revocation and tells the others.
    for (const t of tabs) await t.page.waitForFunction(() => (window as any).ended.length > 0, undefined, { timeout: 5000 });
    for (const t of tabs)
      assert.deepEqual(
        (await ended(t)).map((e) => e.reason),
        ['revoked'],
      );
    console.log(`  every tab signed out within ${Date.now() - changed} ms of the password change (bounded here by the polling of this test)`);
    await context.close();
  });

  it('dpop mode: the key cannot be read out, survives a reload, and a refresh token copied out of the page is useless without it', async (test) => {
    const user = await register(http);
    const context = await profile(test);
    const t = await tab(context, { mode: 'dpop', watchSession: false });
    await login(t, user.email);
    const sessionId = await sessionOf(t);
    assert.equal(await t.page.evaluate(() => (window as any).client.session.tokenType), 'DPoP');
    const rows = await app.database.rows<{ dpop_jkt: string | null }>('SELECT dpop_jkt FROM sessions WHERE id = ?', [sessionId]);
    assert.ok(rows[0].dpop_jkt, 'the session is bound');

    /** What the page's own scripts can get of the stored key and session (IndexedDB, as any script could). */
    const stored = () =>
      t.page.evaluate(async () => {
        const db: IDBDatabase = await new Promise((resolve, reject) => {
          const r = indexedDB.open('latchkey:dpop');
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error ?? new Error('IndexedDB refused to open'));
        });
        const get = (key: string) =>
          new Promise<any>((resolve) => {
            const r = db.transaction('kv').objectStore('kv').get(key);
            r.onsuccess = () => resolve(r.result);
          });
        const pair = await get('dpop-key');
        const session = await get('session');
        db.close();
        const exported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(
          () => 'exported',
          (e: Error) => `refused: ${e.name}`,
        );
        const publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
        return { extractable: pair.privateKey.extractable as boolean, exported, x: publicJwk.x as string, refreshToken: session.refreshToken as string };
      });
    const first = await stored();
    assert.equal(first.extractable, false);
    assert.match(first.exported, /^refused: InvalidAccessError/);

    await t.page.reload();
    await t.page.waitForFunction(() => (window as any).ready === true);
    await t.page.evaluate(() => (window as any).setup({ mode: 'dpop', watchSession: false }));
    assert.equal(await restore(t), true);
    assert.equal((await stored()).x, first.x, 'the same key after a reload');
    assert.equal(await t.page.evaluate(() => (window as any).client.refresh((window as any).client.accessToken)), true, 'a refresh proves the same key');

    // The test hook: the refresh token as a page script (or an XSS) could copy it, replayed from Node.
    const copied = (await stored()).refreshToken;
    const stolen = await http.post('/auth/token', { grant_type: 'refresh_token', refresh_token: copied }, { form: true });
    assert.equal(stolen.status, 400);
    assert.equal(stolen.body.error, 'invalid_dpop_proof');
    assert.deepEqual(await calls(t, 2, 0), [200, 200], 'the real tab keeps working');
    assert.equal(await t.page.evaluate(() => (window as any).client.refresh((window as any).client.accessToken)), true);
    assert.equal(await auditCount(app, 'invalid_dpop_proof', { sessionId }), 1);
    await context.close();
    t.errors.assertNoneUnexpected();
  });

  for (const hours of [2, -2]) {
    it(`a clock ${hours > 0 ? 'ahead' : 'behind'} by 2 hours: refreshes stay on schedule (DPoP proofs included)`, async (test) => {
      const user = await register(http);
      const context = await profile(test);
      const page = await context.newPage();
      await page.clock.install({ time: new Date(Date.now() + hours * 3600_000) });
      const errors = new PageErrors(page);
      errors.expect(/status of 40[01]/);
      await page.goto(`${app.url}/client-test/index.html`);
      await page.waitForFunction(() => (window as any).ready === true);
      const t = { page, errors };
      await page.evaluate(() => (window as any).setup({ mode: 'dpop', watchSession: false }));
      const skew = await page.evaluate(() => Date.now());
      assert.ok(Math.abs(skew - Date.now() - hours * 3600_000) < 60_000, 'the page clock is off');
      await login(t, user.email);
      const before = await refreshCounts();
      const started = Date.now();
      assert.deepEqual(await calls(t, 20, 700), Array(20).fill(200));
      const rotations = (await refreshCounts()).rotated - before.rotated;
      const elapsed = Date.now() - started;
      assert.ok(rotations >= 2 && rotations <= mostRefreshesIn(elapsed), `${rotations} refreshes in ${elapsed} ms`);
      assert.deepEqual(await ended(t), []);
      await context.close();
      errors.assertNoneUnexpected();
    });
  }
});

/**
 * The second step and step-up (API.md v3), against a latchkey that asks admins for a second
 * factor (MFA_REQUIRED=admin) and whose clock the test moves on, so that a session's `aal2` ages.
 */
describe('@latchkey/client: second factor and step-up, in Chromium', () => {
  const ADMIN_EMAIL = 'client-admin@example.com';
  const ADMIN_PASSWORD = 'client test admin password';
  const clock = new ShiftedClock();
  let app: TestApp;
  let http: Http;
  let browser: Browser;
  let secret: string;
  let recoveryCodes: string[];

  /** The authenticator app's code at the server's time, `steps` periods on (a step already used is refused). */
  const code = (steps: number) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: clock.now() + steps * 30_000 });

  before(async () => {
    app = await startAppAtOwnUrl({ MFA_REQUIRED: 'admin', ADMIN_EMAIL, ADMIN_PASSWORD }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
    browser = await launch();
    // The admin turns on an authenticator app (enrolment is open to an admin without a factor).
    const tokens = await loginTokens(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    const pending = await http.post('/me/factors/totp', {}, { token: tokens.access_token });
    assert.equal(pending.status, 201, pending.text);
    secret = pending.body.secret;
    const activated = await http.post(`/me/factors/${pending.body.id}/verify`, { code: code(0) }, { token: tokens.access_token });
    assert.equal(activated.status, 200, activated.text);
    recoveryCodes = activated.body.recoveryCodes;
    assert.equal(recoveryCodes.length, 10);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  async function signedOutTab(test: TestContext): Promise<Tab> {
    const context = await browser.newContext();
    test.after(() => context.close());
    const bundle = readFileSync(BUNDLE);
    await context.route(`${app.url}/client-test/**`, (route) => {
      if (new URL(route.request().url()).pathname.endsWith('.js')) return route.fulfill({ status: 200, contentType: 'text/javascript', body: bundle });
      return route.fulfill({ status: 200, contentType: 'text/html', body: PAGE });
    });
    const page = await context.newPage();
    const errors = new PageErrors(page);
    errors.expect(/status of 401/);
    await page.goto(`${app.url}/client-test/index.html`);
    await page.waitForFunction(() => (window as any).ready === true);
    await page.evaluate(() => (window as any).setup({ mode: 'cookie', watchSession: false }));
    return { page, errors };
  }

  /** Password, then the second step with `answer`; what the page saw at each point. */
  async function signIn(t: Tab, answers: string[]): Promise<{ methods: string[]; signedInBefore: boolean; refusals: string[]; acr: string | null }> {
    return t.page.evaluate(
      async ([email, password, codes]) => {
        const client = (window as any).client;
        const pending = await client.login(email, password);
        const signedInBefore = client.signedIn;
        const refusals: string[] = [];
        for (const c of codes) {
          try {
            await pending.verify({ method: 'totp', code: c });
            break;
          } catch (e) {
            refusals.push((e as { code: string }).code);
          }
        }
        return { methods: pending.methods, signedInBefore, refusals, acr: client.session?.acr ?? null };
      },
      [ADMIN_EMAIL, ADMIN_PASSWORD, answers] as const,
    );
  }

  it('login() resolves to the second step, holds no session until verify() succeeds, and a wrong code can be followed by the right one', async (test) => {
    const t = await signedOutTab(test);
    const wrong = String((Number(code(1)) + 1) % 1_000_000).padStart(6, '0');
    const result = await signIn(t, [wrong, code(1)]);
    assert.deepEqual(result.methods.sort(), ['recovery_code', 'totp']);
    assert.equal(result.signedInBefore, false, 'nothing is signed in after the password alone');
    assert.deepEqual(result.refusals, ['invalid_credentials'], 'the wrong code is refused, the right one then accepted');
    assert.equal(result.acr, 'aal2');
    const status = await t.page.evaluate(async () => (await (window as any).client.fetch('/admin/users')).status);
    assert.equal(status, 200, 'the admin API answers the stepped-in session');
    t.errors.assertNoneUnexpected();
  });

  it('a GET refused for want of a step-up dispatches stepuprequired, waits for stepUp(), and is sent once more; a POST is not repeated', async (test) => {
    const t = await signedOutTab(test);
    // Two minutes on, so that this sign-in's code is one the factor has not used yet.
    clock.offsetMs = 2 * 60_000;
    assert.deepEqual((await signIn(t, [code(0)])).refusals, []);
    // A day on: the session's aal2 has aged, so its next refresh gives an aal1 token.
    clock.offsetMs = 25 * 3600_000;
    try {
      assert.equal(await t.page.evaluate(() => (window as any).client.refresh((window as any).client.accessToken)), true);
      assert.equal(await t.page.evaluate(() => (window as any).client.session.acr), 'aal1', 'the aged session refreshed down to aal1');
      await t.page.evaluate((stepUpCode) => {
        const w = window as any;
        w.stepUps = [];
        w.client.addEventListener('stepuprequired', (e: any) => {
          w.stepUps.push({ acrValues: e.acrValues, maxAge: e.maxAge, method: e.request.method, url: e.request.url });
          if (e.request.method === 'GET') void w.client.stepUp({ method: 'totp', code: stepUpCode });
        });
      }, code(0));
      const status = await t.page.evaluate(async () => (await (window as any).client.fetch('/admin/users')).status);
      assert.equal(status, 200, 'the GET went through after the step-up');
      const seen = await t.page.evaluate(() => (window as any).stepUps);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].acrValues, 'aal2');
      assert.equal(seen[0].method, 'GET');
      assert.equal(await t.page.evaluate(() => (window as any).client.session.acr), 'aal2');

      // Another day on: a POST to an admin route gets its 401 back, once, and is not repeated.
      clock.offsetMs = 50 * 3600_000;
      assert.equal(await t.page.evaluate(() => (window as any).client.refresh((window as any).client.accessToken)), true);
      const user = await register(http);
      const post = await t.page.evaluate(async (id) => (await (window as any).client.fetch(`/admin/users/${id}/disable`, { method: 'POST' })).status, user.id);
      assert.equal(post, 401);
      const after = await t.page.evaluate(() => (window as any).stepUps);
      assert.equal(after.length, 2);
      assert.equal(after[1].method, 'POST');
      const stillEnabled = await http.post('/auth/login', { email: user.email, password: PASSWORD });
      assert.equal(stillEnabled.status, 200, 'the refused POST changed nothing and was not sent again');
    } finally {
      clock.offsetMs = 0;
    }
    t.errors.assertNoneUnexpected();
  });

  it('cancelStepUp(): the waiting GET gets its 401, and nothing is sent again', async (test) => {
    const t = await signedOutTab(test);
    clock.offsetMs = 72 * 3600_000;
    try {
      assert.deepEqual((await signIn(t, [code(0)])).refusals, []);
      clock.offsetMs = 97 * 3600_000;
      assert.equal(await t.page.evaluate(() => (window as any).client.refresh((window as any).client.accessToken)), true);
      const outcome = await t.page.evaluate(async () => {
        const w = window as any;
        let events = 0;
        w.client.addEventListener('stepuprequired', () => {
          events++;
          setTimeout(() => w.client.cancelStepUp(), 50);
        });
        const status = (await w.client.fetch('/admin/users')).status;
        return { status, events, acr: w.client.session.acr };
      });
      assert.deepEqual(outcome, { status: 401, events: 1, acr: 'aal1' });
    } finally {
      clock.offsetMs = 0;
    }
    t.errors.assertNoneUnexpected();
  });

  it('dpop mode: "remember this browser" keeps the trusted-device token, and the next login of this device skips the second step (as aal1)', async (test) => {
    const t = await signedOutTab(test);
    await t.page.evaluate(() => (window as any).setup({ mode: 'dpop', watchSession: false, name: 'trusted' }));
    // DPoP proofs are checked against the server's real clock: no shifted time here, so a recovery code.
    try {
      const first = await t.page.evaluate(
        async ([email, password, c]) => {
          const client = (window as any).client;
          const pending = await client.login(email, password);
          await pending.verify({ method: 'recovery_code', code: c, trustDevice: true });
          const acr = client.session.acr;
          await client.logout();
          return { mfaRequired: pending.mfaRequired, acr };
        },
        [ADMIN_EMAIL, ADMIN_PASSWORD, recoveryCodes[0]] as const,
      );
      assert.deepEqual(first, { mfaRequired: true, acr: 'aal2' });
      const again = await t.page.evaluate(
        async ([email, password]) => {
          const client = (window as any).client;
          const result = await client.login(email, password);
          return { mfaRequired: result.mfaRequired ?? false, acr: client.session?.acr ?? null, tokenType: client.session?.tokenType ?? null };
        },
        [ADMIN_EMAIL, ADMIN_PASSWORD] as const,
      );
      assert.deepEqual(again, { mfaRequired: false, acr: 'aal1', tokenType: 'DPoP' }, 'signed in with the password alone, honestly aal1');
    } finally {
      clock.offsetMs = 0;
    }
    t.errors.assertNoneUnexpected();
  });
});
