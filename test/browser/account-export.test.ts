import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { browserSuite, shot } from '../support/browser';
import { startAppAtLocalhost } from '../support/app';
import { PASSWORD, register } from '../support/http';

/**
 * "Download my data" on /account/security, in Chromium: the page fetches GET /me/export with the
 * user's bearer token and hands the document to the browser as a file download.
 */
describe('downloading my data in Chromium', () => {
  const suite = browserSuite({
    // One export an hour, so that the second click meets the limit.
    app: () => startAppAtLocalhost({ EXPORT_RATE_LIMIT: '1/1h' }),
    page: { viewport: { width: 900, height: 1000 }, locale: 'en-GB', acceptDownloads: true },
  });

  it('downloads one JSON file of the account and its events; a second download within the hour is refused with a message', async () => {
    const user = await register(suite.http, `export-page-${Date.now()}@example.com`, PASSWORD, 'Dana Download');
    await suite.page.goto(`${suite.app.url}/account/security`);
    await suite.page.getByLabel('E-mail address', { exact: true }).fill(user.email);
    await suite.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await suite.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await suite.page.getByRole('heading', { name: 'Your data' }).waitFor();

    const [download] = await Promise.all([suite.page.waitForEvent('download'), suite.page.getByRole('button', { name: 'Download my data' }).click()]);
    assert.match(download.suggestedFilename(), /^latchkey-export-\d{4}-\d{2}-\d{2}\.json$/);
    const doc = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.equal(doc.account.id, user.id);
    assert.equal(doc.account.email, user.email);
    assert.equal(doc.sessions.filter((s: { current: boolean }) => s.current).length, 1, "the page's own session is marked current");
    assert.ok(doc.auditEvents.some((e: { type: string }) => e.type === 'account_exported'));
    await suite.page.getByText('Your data is downloaded').waitFor();
    await shot(suite.page, 'security-download-data.png');

    suite.errors.expect(/status of 429/);
    await suite.page.getByRole('button', { name: 'Download my data' }).click();
    await suite.page.getByRole('alert').getByText('Try again later').waitFor();
    assert.equal(await suite.page.getByRole('button', { name: 'Download my data' }).isEnabled(), true, 'the button works again');
  });
});
