import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach } from 'node:test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, Browser, BrowserContext, BrowserContextOptions, ConsoleMessage, Page } from 'playwright-core';
import { AppSuite, MailEnv, suiteApp, TestApp } from './app';

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

  unexpected(): string[] {
    return this.seen.filter((e) => !this.expected.some((pattern) => pattern.test(e)));
  }

  assertNoneUnexpected(): void {
    assert.deepEqual(this.unexpected(), [], 'the page logged no console errors (a CSP violation would be one) and threw nothing it was not meant to');
  }
}

/** The test as an afterEach hook sees it (node:test types it as a TestContext or a SuiteContext). */
interface EndedTest {
  name: string;
  passed?: boolean;
  diagnostic?(message: string): void;
}

/**
 * The last things a page did (navigations, console lines, failed and refused requests), told with
 * its text and a screenshot when a test fails: a browser test that times out in CI otherwise says
 * only which element never came.
 */
class PageJournal {
  /** How many of the page's last events a failure tells. */
  private static readonly KEPT = 80;
  private readonly lines: string[] = [];
  private readonly started = Date.now();

  constructor(private readonly page: Page) {
    const note = (line: string) => {
      this.lines.push(`+${Date.now() - this.started}ms ${line}`.slice(0, 300));
      if (this.lines.length > PageJournal.KEPT) this.lines.shift();
    };
    page.on('framenavigated', (frame) => frame === page.mainFrame() && note(`navigated ${frame.url()}`));
    page.on('console', (m) => note(`console.${m.type()} ${m.text()}`));
    page.on('pageerror', (e) => note(`pageerror ${e.message}`));
    page.on('requestfailed', (r) => note(`failed ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('response', (r) => r.status() >= 400 && note(`${r.status()} ${r.request().method()} ${r.url()}`));
  }

  async tell(test: EndedTest): Promise<void> {
    const slug = test.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    const path = join(SHOTS, `failed-${slug}.png`);
    const text = await this.page.evaluate(() => document.body.innerText).catch((e: Error) => `(no text: ${e.message})`);
    await this.page.screenshot({ path, fullPage: true }).catch(() => undefined);
    const report = [`the page at ${this.page.url()} when "${test.name}" failed (screenshot ${path}):`, text.slice(0, 2000), 'what it did:', ...this.lines].join(
      '\n  ',
    );
    test.diagnostic?.(report);
    console.error(report);
  }
}

/**
 * A page in a context of its own, watched for errors; `close` closes it and asserts that none was
 * unexpected. Given the test (afterEach's argument), it first tells what the page showed and did
 * if the test failed or the page logged an unexpected error.
 */
export async function freshPage(
  browser: Browser,
  options: BrowserContextOptions,
): Promise<{ context: BrowserContext; page: Page; errors: PageErrors; close: (test?: EndedTest) => Promise<void> }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = new PageErrors(page);
  const journal = new PageJournal(page);
  return {
    context,
    page,
    errors,
    close: async (test?: EndedTest) => {
      if (test && (test.passed === false || errors.unexpected().length)) await journal.tell(test);
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

/** A browser suite: its app (and mail sink), one Chromium, and the fresh page of the test that runs. */
export interface BrowserSuite extends AppSuite {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly errors: PageErrors;
}

/**
 * Registers the hooks of a browser suite: the app that `app` starts (given the sink's `SMTP_URL`
 * when `mail`) and Chromium before the tests, a fresh page with `page`'s options before each test,
 * closed after it (telling what the page showed and did if the test failed, and asserting no
 * unexpected page error), and everything stopped after the tests.
 */
export function browserSuite(options: { app: (mail: MailEnv) => Promise<TestApp>; page: BrowserContextOptions; mail?: boolean }): BrowserSuite {
  const server = suiteApp(options.app, { mail: options.mail ?? false });
  let browser: Browser | undefined;
  let current: Awaited<ReturnType<typeof freshPage>> | undefined;
  const open = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not open: read it in a hook or a test`);
    return value;
  };

  before(async () => {
    await server.start();
    browser = await launch();
  });
  beforeEach(async () => {
    current = await freshPage(open(browser, 'the browser'), options.page);
  });
  afterEach(async (test) => {
    await current?.close(test);
    current = undefined;
  });
  after(async () => {
    await browser?.close();
    await server.stop();
  });

  return {
    get app() {
      return server.app;
    },
    get http() {
      return server.http;
    },
    get smtp() {
      return server.smtp;
    },
    get browser() {
      return open(browser, 'the browser');
    },
    get context() {
      return open(current, 'the page').context;
    },
    get page() {
      return open(current, 'the page').page;
    },
    get errors() {
      return open(current, 'the page').errors;
    },
  };
}
