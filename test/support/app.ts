import 'reflect-metadata';
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../../src/app.module';
import { configureApp, createAdapter } from '../../src/bootstrap';
import { AppConfig, loadConfig } from '../../src/config/config';
import { DatabaseService } from '../../src/database/database.service';
import { Http } from './http';
import { SmtpSink } from './smtp';

/** Which database the e2e suite runs against: `TEST_DB=sqlite` (default) or `TEST_DB=mysql`. */
export const TEST_DB = (process.env.TEST_DB ?? 'sqlite') as 'sqlite' | 'mysql';
export const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestApp {
  url: string;
  app: NestFastifyApplication;
  config: AppConfig;
  database: DatabaseService;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Secrets and a fresh database, shared by instances that must see the same data. */
export interface TestDatabase {
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A provider to replace, the NestJS way: `{ provide: Clock, useValue: fakeClock }`. */
export interface Override {
  provide: unknown;
  useValue: unknown;
}

export function testSecrets(): Record<string, string> {
  return { REFRESH_TOKEN_KEYS: `t1:${randomBytes(32).toString('base64url')}`, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };
}

export async function dropMysqlDatabase(name: string, serverUrl = MYSQL_URL): Promise<void> {
  const mysql = await import('mysql2/promise');
  const url = new URL(serverUrl);
  const conn = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
  });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await conn.end();
  }
}

/** A database of its own, and a DATA_DIR of its own (the development mail outbox writes there). */
export function freshDatabase(): TestDatabase {
  const secrets = testSecrets();
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  if (TEST_DB === 'mysql') {
    const name = `lk_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    return { env: { ...secrets, DATA_DIR: dir, DATABASE_URL: `${MYSQL_URL}/${name}` }, drop: async () => (await dropMysqlDatabase(name), removeDir()) };
  }
  return { env: { ...secrets, DATA_DIR: dir }, drop: async () => removeDir() };
}

/** The environment a test app runs with: quiet, an ephemeral port, no rate limits unless asked. */
export function testEnv(database: TestDatabase, env: Record<string, string> = {}): Record<string, string> {
  return {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    AUTH_RATE_LIMIT: 'off',
    LOGIN_LOCKOUT: 'off',
    ...database.env,
    ...env,
  };
}

/**
 * Boots the real application on an ephemeral port: the module graph of `npm start`, built with
 * `Test.createTestingModule` so a test can override a provider (`overrides`), then the same
 * adapter and HTTP configuration as `npm start` (bootstrap.ts). Pass `database` to share one
 * database between several instances.
 *
 * Two apps in one process share passport's strategy registry (one strategy per name per process):
 * the last one started verifies access tokens for both. Where instances must differ in how they
 * verify (issuer, keys), run the other one as a real process (support/processes.ts).
 */
export async function startApp(env: Record<string, string> = {}, database?: TestDatabase, overrides: Override[] = []): Promise<TestApp> {
  const db = database ?? freshDatabase();
  const fullEnv = testEnv(db, env);
  const config = loadConfig(fullEnv);
  let builder = Test.createTestingModule({ imports: [AppModule.register(config)] });
  for (const o of overrides) builder = builder.overrideProvider(o.provide).useValue(o.useValue);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createAdapter(config), { bufferLogs: true });
  await configureApp(app, config);
  await app.listen({ port: Number(fullEnv.PORT) || 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    config,
    database: app.get(DatabaseService),
    env: fullEnv,
    close: async () => {
      await app.close();
      if (!database) await db.drop();
    },
  };
}

/** An app whose JWT_ISSUER is its own URL, as a real deployment's is, so its metadata points at itself. */
export async function startAppAtOwnUrl(env: Record<string, string> = {}, database?: TestDatabase, overrides: Override[] = []): Promise<TestApp> {
  const { freePort } = await import('./faults');
  const port = await freePort();
  return startApp({ ...env, PORT: String(port), JWT_ISSUER: `http://127.0.0.1:${port}` }, database, overrides);
}

/**
 * An app at http://localhost:<port>, its JWT_ISSUER too: what a page needs for WebAuthn (a relying
 * party id that is a domain name) and for the cookie-mode sign-in (COOKIE_SECURE follows the issuer).
 */
export async function startAppAtLocalhost(env: Record<string, string> = {}, database?: TestDatabase, overrides: Override[] = []): Promise<TestApp> {
  const { freePort } = await import('./faults');
  const port = await freePort();
  const app = await startApp({ ...env, PORT: String(port), JWT_ISSUER: `http://localhost:${port}` }, database, overrides);
  app.url = `http://localhost:${port}`;
  return app;
}

/** A suite's app, a client of it and, for an app that mails, the SMTP sink it mails to. */
export interface AppSuite {
  readonly app: TestApp;
  readonly http: Http;
  readonly smtp: SmtpSink;
}

/** `{ SMTP_URL }` of the suite's sink, or nothing for an app that sends no mail. */
export type MailEnv = Record<string, string>;

/**
 * What an AppSuite holds, started by `start` (the sink first: the app is given its address) and
 * stopped by `stop`, which undoes whatever of it did start. The getters are read in hooks and tests,
 * once `start` has run.
 */
export function suiteApp(
  startApp: (mail: MailEnv) => Promise<TestApp>,
  { mail }: { mail: boolean },
): AppSuite & { start(): Promise<void>; stop(): Promise<void> } {
  let app: TestApp | undefined;
  let http: Http | undefined;
  let smtp: SmtpSink | undefined;
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started: read it in a hook or a test`);
    return value;
  };
  return {
    get app() {
      return started(app, 'the app');
    },
    get http() {
      return started(http, 'the app');
    },
    get smtp() {
      if (!mail) throw new Error('this suite sends no mail');
      return started(smtp, 'the SMTP sink');
    },
    async start() {
      if (mail) smtp = await SmtpSink.start();
      app = await startApp(smtp ? { SMTP_URL: smtp.url } : {});
      http = new Http(app.url);
    },
    async stop() {
      await app?.close();
      await smtp?.stop();
    },
  };
}

/** An app that mails to an SMTP sink, both started before the suite's tests and stopped after them. */
export function appWithMailSuite(startApp: (mail: MailEnv) => Promise<TestApp>): AppSuite {
  const suite = suiteApp(startApp, { mail: true });
  before(() => suite.start());
  after(() => suite.stop());
  return suite;
}
