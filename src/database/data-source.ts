import { closeSync, mkdirSync, openSync } from 'node:fs';
import { DataSource, DataSourceOptions } from 'typeorm';
import { sqliteFiles, type AppConfig } from '../config/config';
import { User } from '../users/user.entity';
import { Session } from '../sessions/session.entity';
import { AuditEvent } from '../audit/audit-event.entity';
import { SigningKey } from '../auth/signing-key.entity';
import { ResourceServer } from '../resource-servers/resource-server.entity';
import { InitialSchema1764000000000 } from './migrations/1764000000000-InitialSchema';
import { EmailExactCollation1764100000000 } from './migrations/1764100000000-EmailExactCollation';
import { RevocationFeed1764200000000 } from './migrations/1764200000000-RevocationFeed';
import { SigningKeyRevocation1764300000000 } from './migrations/1764300000000-SigningKeyRevocation';
import { AccountRecovery1764400000000 } from './migrations/1764400000000-AccountRecovery';
import { DropSessionsRevokedAtIndex1764500000000 } from './migrations/1764500000000-DropSessionsRevokedAtIndex';
import { DpopBoundSessions1764600000000 } from './migrations/1764600000000-DpopBoundSessions';
import { SecondFactors1764700000000 } from './migrations/1764700000000-SecondFactors';
import { WebAuthnChallenges1764710000000 } from './migrations/1764710000000-WebAuthnChallenges';
import { PasswordResetRequired1764750000000 } from './migrations/1764750000000-PasswordResetRequired';
import { EmailChangeLinks1764810000000 } from './migrations/1764810000000-EmailChangeLinks';
import { AuditActorIndex1764820000000 } from './migrations/1764820000000-AuditActorIndex';
import { MfaFactor } from '../mfa/mfa-factor.entity';
import { MfaChallenge } from '../mfa/mfa-challenge.entity';
import { RecoveryCode } from '../mfa/recovery-code.entity';
import { TrustedDevice } from '../mfa/trusted-device.entity';
import { WebAuthnChallenge } from '../mfa/webauthn-challenge.entity';
import { MailMessage } from '../mail/mail-message.entity';
import { AccountLink } from '../account/account-link.entity';
import { DropTimedOutConnections, StatementLogger } from './bounded-queries';

export const ENTITIES = [
  User,
  Session,
  AuditEvent,
  SigningKey,
  ResourceServer,
  AccountLink,
  MailMessage,
  MfaFactor,
  MfaChallenge,
  RecoveryCode,
  TrustedDevice,
  WebAuthnChallenge,
];
export const MIGRATIONS = [
  InitialSchema1764000000000,
  EmailExactCollation1764100000000,
  RevocationFeed1764200000000,
  SigningKeyRevocation1764300000000,
  AccountRecovery1764400000000,
  DropSessionsRevokedAtIndex1764500000000,
  DpopBoundSessions1764600000000,
  SecondFactors1764700000000,
  WebAuthnChallenges1764710000000,
  PasswordResetRequired1764750000000,
  EmailChangeLinks1764810000000,
  AuditActorIndex1764820000000,
];

type DbConfig = Pick<AppConfig, 'mysql' | 'dataDir' | 'dbTimeoutMs'>;

/** The one place that turns configuration into TypeORM options, for the app and the CLI. */
export function dataSourceOptions(config: DbConfig): DataSourceOptions {
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    logging: false,
  } as const;
  if (config.mysql) {
    const m = config.mysql;
    return {
      ...common,
      type: 'mysql',
      host: m.host,
      port: m.port,
      username: m.user,
      password: m.password,
      database: m.database,
      charset: 'utf8mb4_unicode_ci',
      // BIGINT epoch milliseconds fit in a double; read them as numbers, not strings.
      supportBigNumbers: true,
      bigNumberStrings: false,
      connectTimeout: config.dbTimeoutMs,
      // Every statement is bounded too: a database that accepts connections but never answers
      // (a partition, a hung server) gives a 503 after DB_TIMEOUT_MS, not a request that hangs.
      // A connection whose statement timed out is dropped from the pool (bounded-queries.ts).
      enableQueryTimeout: true,
      maxQueryExecutionTime: config.dbTimeoutMs,
      subscribers: [DropTimedOutConnections],
      logger: new StatementLogger(),
      poolSize: 10,
      extra: {
        // Bounded waits so a dead database gives a quick 503, not a hung request.
        connectTimeout: config.dbTimeoutMs,
        waitForConnections: true,
        queueLimit: 200,
        enableKeepAlive: true,
        // No stack captured at every query for a better trace of a failure (5% of a refresh's
        // CPU in the profile): errors are logged by their code, never with their stack.
        trace: false,
      },
    };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const [database] = sqliteFiles(config.dataDir);
  createOwnerOnly(database);
  return {
    ...common,
    type: 'better-sqlite3',
    database,
    enableWAL: true,
    timeout: config.dbTimeoutMs,
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('foreign_keys = ON');
      db.pragma('synchronous = NORMAL');
    },
  };
}

/**
 * The embedded database is for its owner only, like secrets.json (loadConfig refuses existing
 * files that group or others can read): a new one is created 0600 (a umask can only take bits
 * away) before better-sqlite3 opens it. SQLite creates the -wal and -shm with the database file's permissions
 * (and fchmods them to those), so they are 0600 too.
 */
function createOwnerOnly(database: string): void {
  // Append mode creates the file when absent and never truncates one that exists.
  closeSync(openSync(database, 'a', 0o600));
}

export function createDataSource(config: DbConfig): DataSource {
  return new DataSource(dataSourceOptions(config));
}

/** MySQL only: create the database named in DATABASE_URL when it is missing. */
export async function ensureMysqlDatabase(config: DbConfig): Promise<void> {
  if (!config.mysql) return;
  const mysql = await import('mysql2/promise');
  const m = config.mysql;
  const conn = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password: m.password, connectTimeout: config.dbTimeoutMs });
  try {
    // The name was checked against [A-Za-z0-9_] in config; identifiers cannot be bound.
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${m.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

/**
 * Pending migrations, without the per-statement timeout: a schema change on a large table may
 * legitimately take longer than any request should wait.
 */
export async function runMigrations(dataSource: DataSource): Promise<Array<{ name: string }>> {
  const options = dataSource.driver.options as { enableQueryTimeout?: boolean };
  const bounded = options.enableQueryTimeout;
  options.enableQueryTimeout = false;
  try {
    return await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    options.enableQueryTimeout = bounded;
  }
}
