import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap';
import { AppConfig, loadConfig } from '../../src/config/config';
import { DatabaseService } from '../../src/database/database.service';

/** Which database the e2e suite runs against: `TEST_DB=sqlite` (default) or `TEST_DB=mysql`. */
export const TEST_DB = (process.env.TEST_DB ?? 'sqlite') as 'sqlite' | 'mysql';
export const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

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

export function freshDatabase(): TestDatabase {
  const secrets = {
    REFRESH_TOKEN_KEYS: `t1:${randomBytes(32).toString('base64url')}`,
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  };
  if (TEST_DB === 'mysql') {
    const name = `lk_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    return {
      env: { ...secrets, DATABASE_URL: `${MYSQL_URL}/${name}` },
      drop: async () => {
        const mysql = await import('mysql2/promise');
        const url = new URL(MYSQL_URL);
        const conn = await mysql.createConnection({ host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), password: decodeURIComponent(url.password) });
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await conn.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-'));
  return { env: { ...secrets, DATA_DIR: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Boots the real application (same bootstrap as `npm start`) on an ephemeral port.
 * Pass `database` to share one database between several instances.
 */
export async function startApp(env: Record<string, string> = {}, database?: TestDatabase): Promise<TestApp> {
  const db = database ?? freshDatabase();
  const fullEnv: Record<string, string> = {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    AUTH_RATE_LIMIT: 'off',
    LOGIN_LOCKOUT: 'off',
    ...db.env,
    ...env,
  };
  const config = loadConfig(fullEnv);
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
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
