import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, Browser, BrowserContext, BrowserContextOptions, ConsoleMessage, Page } from 'playwright-core';

const ROOT = join(__dirname, '../../..');
/** Screenshots of every browser test land here (the README's come from these). */
export const SHOTS = join(ROOT, 'test-output', 'screenshots');

/** Debian's Chromium, never a downloaded browser. */
export function launch(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Collects everything the page logs as an error, and uncaught exceptions. */
/**
 * What a page logged as an error (a CSP violation is one) or threw, minus what a test provokes
 * on purpose (`expect`: Chromium logs every failed response as a console error).
 */
export class PageErrors {
  private readonly seen: string[] = [];
  private readonly expected: RegExp[] = [];

  constructor(page: Page) {
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') this.seen.push(`${m.text()} @ ${m.location().url}`);
    });
    page.on('pageerror', (e) => this.seen.push(`pageerror: ${e.message}`));
  }

  expect(...patterns: RegExp[]): void {
    this.expected.push(...patterns);
  }

  assertNoneUnexpected(): void {
    const unexpected = this.seen.filter((e) => !this.expected.some((pattern) => pattern.test(e)));
    assert.deepEqual(unexpected, [], 'the page logged no console errors (a CSP violation would be one) and threw nothing it was not meant to');
  }
}

/** A page in a context of its own, watched for errors; `close` closes it and asserts that none was unexpected. */
export async function freshPage(
  browser: Browser,
  options: BrowserContextOptions,
): Promise<{ context: BrowserContext; page: Page; errors: PageErrors; close: () => Promise<void> }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = new PageErrors(page);
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      errors.assertNoneUnexpected();
    },
  };
}

export async function shot(page: Page, name: string, fullPage = true): Promise<string> {
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage });
  return path;
}
