import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Browser, Page } from 'playwright-core';
import { freshPage, launch, shot, PageErrors } from '../support/browser';
import { startApp, TestApp } from '../support/app';
import { freePort } from '../support/faults';
import { Http, PASSWORD, register } from '../support/http';

/**
 * "Download my data" on /account/security, in Chromium: the page fetches GET /me/export with the
 * user's bearer token and hands the document to the browser as a file download.
 */
describe('downloading my data in Chromium', () => {
  let app: TestApp;
  let http: Http;
  let browser: Browser;
  let page: Page;
  let errors: PageErrors;
  let closePage: () => Promise<void>;

  before(async () => {
    const port = await freePort();
    // One export an hour, so that the second click meets the limit.
    app = await startApp({ PORT: String(port), JWT_ISSUER: `http://localhost:${port}`, EXPORT_RATE_LIMIT: '1/1h' });
    app.url = `http://localhost:${port}`;
    http = new Http(app.url);
    browser = await launch();
  });
  beforeEach(async () => {
    ({ page, errors, close: closePage } = await freshPage(browser, { viewport: { width: 900, height: 1000 }, locale: 'en-GB', acceptDownloads: true }));
  });
  afterEach(async () => closePage());
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  it('downloads one JSON file of the account and its events; a second download within the hour is refused with a message', async () => {
    const user = await register(http, `export-page-${Date.now()}@example.com`, PASSWORD, 'Dana Download');
    await page.goto(`${app.url}/account/security`);
    await page.getByLabel('E-mail address').fill(user.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your data' }).waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my data' }).click()]);
    assert.match(download.suggestedFilename(), /^latchkey-export-\d{4}-\d{2}-\d{2}\.json$/);
    const doc = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.equal(doc.account.id, user.id);
    assert.equal(doc.account.email, user.email);
    assert.equal(doc.sessions.filter((s: { current: boolean }) => s.current).length, 1, "the page's own session is marked current");
    assert.ok(doc.auditEvents.some((e: { type: string }) => e.type === 'account_exported'));
    await page.getByText('Your data is downloaded').waitFor();
    await shot(page, 'security-download-data.png');

    errors.expect(/status of 429/);
    await page.getByRole('button', { name: 'Download my data' }).click();
    await page.getByRole('alert').getByText('Try again later').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Download my data' }).isEnabled(), true, 'the button works again');
  });
});
