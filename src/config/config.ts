import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MfaRequired } from '../common/role';
import {
  ConfigError,
  MysqlUrl,
  RateLimit,
  RefreshKey,
  parseBoolean,
  parseDuration,
  parseEnum,
  parseInteger,
  parseKey,
  parseMailbox,
  parseMysqlUrl,
  parseOrigins,
  parseRateLimit,
  parseRefreshKeys,
  parseTrustProxy,
  parseUrl,
  TrustProxy,
} from './parse';
import { emailProblem, normalizeEmail } from '../common/email';
import { passwordPolicyError } from '../common/password-policy';
import { SIGNING_ALGS, SigningAlg } from '../common/jws';

/** Chosen by measurement (docs/BENCHMARKS.md, "Access-token algorithm"). */
export const DEFAULT_JWT_ALG: SigningAlg = 'ES256';
/**
 * Chosen by measurement (docs/BENCHMARKS.md, "Login floods"): one core is left to everything
 * else, so a login flood cannot starve refreshes and the guard; the queue holds about a second
 * of work at one worker and sheds the rest.
 */
export const DEFAULT_ARGON2_WORKERS = Math.max(1, availableParallelism() - 1);
export const DEFAULT_ARGON2_QUEUE = 64;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppConfig {
  production: boolean;
  /** Tests only (TEST_CLOCK_FILE): the clock is real time plus the milliseconds this file holds; refused in production. */
  testClockFile: string | null;
  port: number;
  host: string;
  dataDir: string;
  /** Unset: the embedded SQLite database in `dataDir`. */
  mysql: MysqlUrl | null;
  /** Seconds. */
  accessTokenTtl: number;
  refreshTokenTtl: number;
  refreshIdleTtl: number;
  refreshReuseGrace: number;
  maxSessionsPerUser: number;
  jwtIssuer: string;
  jwtAudience: string;
  adminEmail: string | null;
  adminPassword: string | null;
  registration: 'open' | 'closed';
  /** DPoP (RFC 9449): `optional` binds sessions whose login carries a proof, `required` refuses logins without one, `off` ignores proofs. */
  dpop: 'optional' | 'required' | 'off';
  authRateLimit: RateLimit | null;
  loginLockout: RateLimit | null;
  redisUrl: string | null;
  /** Namespace for every Redis key and channel, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  /** Which X-Forwarded-For entries to believe: none (false), the last N hops, or those added by these proxy addresses. */
  trustProxy: TrustProxy;
  cookieSecure: boolean;
  corsOrigins: string[];
  logLevel: LogLevel;
  /** Seconds a revoked or expired session row is kept after it stopped mattering. */
  sessionRetention: number;
  auditRetention: number;
  /** Milliseconds between polls of the revocation log for what other instances sequenced. */
  revocationPollMs: number;
  /** Open event streams and held long polls (session events, the revocation feed): caps per session, user, client, and in all (null: half the open-file limit). */
  streams: { perSession: number; perUser: number; perClient: number; max: number | null };
  /** Bounded connect and query time for the database, in milliseconds. */
  dbTimeoutMs: number;
  /** First entry signs new refresh tokens; all are accepted. */
  refreshKeys: RefreshKey[];
  /** AES-256-GCM key for signing keys at rest. */
  keyEncryptionKey: Buffer;
  /** The algorithm new access-token signing keys use. */
  jwtAlg: SigningAlg;
  /** Prometheus metrics on their own port; null: off. */
  metricsPort: number | null;
  metricsHost: string;
  /** Password hashes that may run at once, and how many may wait before requests are shed (503). */
  argon2Workers: number;
  argon2Queue: number;
  /** Where e-mailed links point (the account pages), without a trailing slash. */
  appUrl: string;
  /** Unset: the development outbox (DATA_DIR/outbox/*.eml). */
  smtpUrl: string | null;
  mailFrom: string;
  /** Seconds. */
  passwordResetTtl: number;
  requireEmailVerification: boolean;
  /** Who must have a second factor: nobody, admins, or everyone. */
  mfaRequired: MfaRequired;
  /** Seconds: the life of the token between a correct password and the second factor. */
  mfaTokenTtl: number;
  /** Seconds an `aal2` session stays `aal2` after its last authentication; then it refreshes down to `aal1`. */
  aal2MaxAge: number;
  /** Seconds: how recent `auth_time` must be to add or remove a factor or regenerate recovery codes. */
  reauthMaxAge: number;
  /** Seconds a trusted device is remembered; null: off. */
  trustedDeviceTtl: number | null;
  /** Failed second factors per account: past it, 429. Null: off. */
  mfaLockout: RateLimit | null;
  /** EXPORT_RATE_LIMIT: data exports (GET /me/export) per user; null when off. */
  exportRateLimit: RateLimit | null;
  /** Consecutive failures that lock a factor until an admin reset. */
  mfaMaxFailures: number;
  /** The WebAuthn relying party: its id (a registrable domain), display name and accepted origins. */
  webauthnRpId: string;
  webauthnRpName: string;
  webauthnOrigins: string[];
  /**
   * Tests only (refused with NODE_ENV=production): a named point where the process stops and
   * waits, forever, saying so on stderr, so a crash test can SIGKILL it exactly there.
   */
  testPauseAt: TestPausePoint | null;
  /** OpenTelemetry traces; null (the default): off, and no SDK is loaded. */
  tracing: TracingConfig | null;
}

export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** The standard OTEL_* variables latchkey reads, validated like the rest. */
export interface TracingConfig {
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  endpoint: string;
  protocol: 'http/protobuf' | 'http/json';
  serviceName: string;
  sampler: (typeof TRACE_SAMPLERS)[number];
  /** The ratio of the *traceidratio samplers, from 0 to 1. */
  samplerRatio: number;
  /** Sent with every export (OTEL_EXPORTER_OTLP_HEADERS / OTEL_EXPORTER_OTLP_TRACES_HEADERS), e.g. a collector's API key. */
  headers: Record<string, string>;
}

/** Where TEST_PAUSE_AT may stop the process: inside the account deletion's transaction, before COMMIT. */
export const TEST_PAUSE_POINTS = ['account_deletion'] as const;
export type TestPausePoint = (typeof TEST_PAUSE_POINTS)[number];

type Env = Record<string, string | undefined>;

const maybe = <T>(raw: string | undefined, parse: (raw: string) => T): T | null => (raw === undefined ? null : parse(raw));

function read(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * Reads and validates every setting once, at start. Throws a ConfigError naming the
 * variable on the first bad value.
 */
export function loadConfig(env: Env = process.env): AppConfig {
  const production = env.NODE_ENV === 'production';
  const get = (name: string) => read(env, name);
  // A clock anyone with the file can move would undo every expiry: tests only, never in production.
  if (production && get('TEST_CLOCK_FILE') !== undefined)
    throw new ConfigError('TEST_CLOCK_FILE', 'to be unset in production (it lets a file move the clock, for tests only)');
  const or = <T>(name: string, fallback: T, parse: (raw: string) => T): T => {
    const raw = get(name);
    return raw === undefined ? fallback : parse(raw);
  };

  const jwtIssuer = or('JWT_ISSUER', 'http://localhost:3000', (raw) => {
    const url = parseUrl('JWT_ISSUER', raw, ['http:', 'https:']);
    return raw.trim().replace(/\/$/, '') === url.origin ? url.origin : raw.trim();
  });
  const localIssuer = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/.test(jwtIssuer);
  const accessTokenTtl = or('ACCESS_TOKEN_TTL', 900, (raw) => parseDuration('ACCESS_TOKEN_TTL', raw));
  const refreshTokenTtl = or('REFRESH_TOKEN_TTL', 30 * 86400, (raw) => parseDuration('REFRESH_TOKEN_TTL', raw));
  const refreshIdleTtl = or('REFRESH_IDLE_TTL', 7 * 86400, (raw) => parseDuration('REFRESH_IDLE_TTL', raw));
  const refreshReuseGrace = or('REFRESH_REUSE_GRACE', 10, (raw) => parseDuration('REFRESH_REUSE_GRACE', raw, { min: 0 }));
  if (refreshReuseGrace >= refreshIdleTtl) throw new ConfigError('REFRESH_REUSE_GRACE', 'a window shorter than REFRESH_IDLE_TTL');

  const adminEmail = maybe(get('ADMIN_EMAIL'), normalizeEmail);
  const adminPassword = get('ADMIN_PASSWORD') ?? null;
  if ((adminEmail === null) !== (adminPassword === null)) {
    throw new ConfigError(adminEmail ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL', 'to be set together with ' + (adminEmail ? 'ADMIN_EMAIL' : 'ADMIN_PASSWORD'));
  }
  const emailError = adminEmail === null ? null : emailProblem(adminEmail);
  if (emailError) throw new ConfigError('ADMIN_EMAIL', `an e-mail address (it ${emailError})`, adminEmail!);
  const passwordError = adminPassword === null ? null : passwordPolicyError(adminPassword);
  // The value itself is never echoed: it is a password.
  if (passwordError) throw new ConfigError('ADMIN_PASSWORD', `a password the policy accepts (${passwordError})`);

  const dataDir = resolve(get('DATA_DIR') ?? './data');
  const secrets = loadSecrets(env, production, dataDir);
  if (get('DATABASE_URL') === undefined) for (const file of sqliteFiles(dataDir)) if (existsSync(file)) refuseUnlessOwnerOnly(file);

  const smtpUrl = or<string | null>('SMTP_URL', null, (raw) => parseUrl('SMTP_URL', raw, ['smtp:', 'smtps:']).toString());
  // Without it mail lands in files on this host; in production that means nobody gets it.
  if (production && !smtpUrl) throw new ConfigError('SMTP_URL', 'to be set in production: smtp://user:pass@host:587 or smtps://…');

  const appUrl = or('APP_URL', jwtIssuer, (raw) => parseUrl('APP_URL', raw, ['http:', 'https:']).toString()).replace(/\/$/, '');
  const webauthnRpId = or('WEBAUTHN_RP_ID', new URL(appUrl).hostname, (raw) => {
    // A registrable domain or host name, no scheme, port or path (WebAuthn §5.1.3's rp.id).
    if (!/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(raw.trim()))
      throw new ConfigError('WEBAUTHN_RP_ID', 'a domain such as example.com (no scheme, port or path)', raw);
    return raw.trim();
  });
  const webauthnOrigins = or('WEBAUTHN_ORIGINS', [new URL(appUrl).origin], (raw) => parseOrigins('WEBAUTHN_ORIGINS', raw));
  if (webauthnOrigins.length === 0) throw new ConfigError('WEBAUTHN_ORIGINS', 'at least one origin such as https://app.example.com');
  for (const origin of webauthnOrigins) {
    const host = new URL(origin).hostname;
    if (host !== webauthnRpId && !host.endsWith('.' + webauthnRpId))
      throw new ConfigError('WEBAUTHN_ORIGINS', `origins on WEBAUTHN_RP_ID (${webauthnRpId}) or its subdomains`, origin);
  }

  return {
    production,
    testClockFile: maybe(get('TEST_CLOCK_FILE'), (raw) => resolve(raw.trim())),
    port: or('PORT', 3000, (raw) => parseInteger('PORT', raw, 0, 65535)),
    host: get('HOST')?.trim() ?? '0.0.0.0',
    dataDir,
    mysql: or<MysqlUrl | null>('DATABASE_URL', null, (raw) => parseMysqlUrl('DATABASE_URL', raw)),
    accessTokenTtl,
    refreshTokenTtl,
    refreshIdleTtl,
    refreshReuseGrace,
    maxSessionsPerUser: or('MAX_SESSIONS_PER_USER', 50, (raw) => parseInteger('MAX_SESSIONS_PER_USER', raw, 1, 10000)),
    jwtIssuer,
    jwtAudience: get('JWT_AUDIENCE')?.trim() ?? 'latchkey',
    adminEmail,
    adminPassword,
    registration: or('REGISTRATION', 'open' as const, (raw) => parseEnum('REGISTRATION', raw, ['open', 'closed'] as const)),
    dpop: or('DPOP', 'optional' as const, (raw) => parseEnum('DPOP', raw, ['optional', 'required', 'off'] as const)),
    authRateLimit: or('AUTH_RATE_LIMIT', { limit: 20, windowSeconds: 60 }, (raw) => parseRateLimit('AUTH_RATE_LIMIT', raw)),
    loginLockout: or('LOGIN_LOCKOUT', { limit: 5, windowSeconds: 900 }, (raw) => parseRateLimit('LOGIN_LOCKOUT', raw)),
    redisUrl: or<string | null>('REDIS_URL', null, (raw) => parseUrl('REDIS_URL', raw, ['redis:', 'rediss:']).toString()),
    redisKeyPrefix: or('REDIS_KEY_PREFIX', 'latchkey:', (raw) => {
      if (!/^[A-Za-z0-9:._-]{1,64}$/.test(raw.trim())) throw new ConfigError('REDIS_KEY_PREFIX', '1 to 64 characters of A-Z a-z 0-9 : . _ -', raw);
      return raw.trim();
    }),
    trustProxy: or<TrustProxy>('TRUST_PROXY', false, (raw) => parseTrustProxy('TRUST_PROXY', raw)),
    cookieSecure: or('COOKIE_SECURE', !localIssuer, (raw) => parseBoolean('COOKIE_SECURE', raw)),
    corsOrigins: or('CORS_ORIGINS', [] as string[], (raw) => parseOrigins('CORS_ORIGINS', raw)),
    logLevel: or('LOG_LEVEL', 'info', (raw) => parseEnum('LOG_LEVEL', raw, LOG_LEVELS)),
    sessionRetention: or('SESSION_RETENTION', 30 * 86400, (raw) => parseDuration('SESSION_RETENTION', raw, { min: 0 })),
    auditRetention: or('AUDIT_RETENTION', 180 * 86400, (raw) => parseDuration('AUDIT_RETENTION', raw)),
    revocationPollMs: or('REVOCATION_POLL_MS', 1000, (raw) => parseInteger('REVOCATION_POLL_MS', raw, 50, 60000)),
    streams: {
      perSession: or('STREAMS_PER_SESSION', 4, (raw) => parseInteger('STREAMS_PER_SESSION', raw, 1, 1000)),
      perUser: or('STREAMS_PER_USER', 16, (raw) => parseInteger('STREAMS_PER_USER', raw, 1, 10_000)),
      perClient: or('STREAMS_PER_CLIENT', 100, (raw) => parseInteger('STREAMS_PER_CLIENT', raw, 1, 100_000)),
      max: or<number | null>('STREAMS_MAX', null, (raw) => parseInteger('STREAMS_MAX', raw, 1, 1_000_000)),
    },
    dbTimeoutMs: or('DB_TIMEOUT_MS', 5000, (raw) => parseInteger('DB_TIMEOUT_MS', raw, 100, 120000)),
    jwtAlg: or<SigningAlg>('JWT_ALG', DEFAULT_JWT_ALG, (raw) => parseEnum('JWT_ALG', raw, SIGNING_ALGS)),
    metricsPort: or<number | null>('METRICS_PORT', null, (raw) => parseInteger('METRICS_PORT', raw, 0, 65535)),
    metricsHost: get('METRICS_HOST')?.trim() ?? '127.0.0.1',
    argon2Workers: or('ARGON2_WORKERS', DEFAULT_ARGON2_WORKERS, (raw) => parseInteger('ARGON2_WORKERS', raw, 1, 64)),
    argon2Queue: or('ARGON2_QUEUE', DEFAULT_ARGON2_QUEUE, (raw) => parseInteger('ARGON2_QUEUE', raw, 0, 100_000)),
    appUrl,
    smtpUrl,
    mailFrom: or('MAIL_FROM', 'latchkey <no-reply@localhost>', (raw) => parseMailbox('MAIL_FROM', raw)),
    passwordResetTtl: or('PASSWORD_RESET_TTL', 30 * 60, (raw) => parseDuration('PASSWORD_RESET_TTL', raw)),
    requireEmailVerification: or('REQUIRE_EMAIL_VERIFICATION', false, (raw) => parseBoolean('REQUIRE_EMAIL_VERIFICATION', raw)),
    mfaRequired: or('MFA_REQUIRED', 'off' as const, (raw) => parseEnum('MFA_REQUIRED', raw, ['off', 'admin', 'all'] as const)),
    mfaTokenTtl: or('MFA_TOKEN_TTL', 300, (raw) => parseDuration('MFA_TOKEN_TTL', raw)),
    aal2MaxAge: or('AAL2_MAX_AGE', 86400, (raw) => parseDuration('AAL2_MAX_AGE', raw)),
    reauthMaxAge: or('REAUTH_MAX_AGE', 900, (raw) => parseDuration('REAUTH_MAX_AGE', raw)),
    trustedDeviceTtl: or<number | null>('TRUSTED_DEVICE_TTL', 30 * 86400, (raw) => (raw.trim() === 'off' ? null : parseDuration('TRUSTED_DEVICE_TTL', raw))),
    mfaLockout: or('MFA_LOCKOUT', { limit: 10, windowSeconds: 900 }, (raw) => parseRateLimit('MFA_LOCKOUT', raw)),
    exportRateLimit: or('EXPORT_RATE_LIMIT', { limit: 3, windowSeconds: 3600 }, (raw) => parseRateLimit('EXPORT_RATE_LIMIT', raw)),
    mfaMaxFailures: or('MFA_MAX_FAILURES', 100, (raw) => parseInteger('MFA_MAX_FAILURES', raw, 1, 1_000_000)),
    webauthnRpId,
    webauthnRpName: or('WEBAUTHN_RP_NAME', 'latchkey', (raw) => {
      if (raw.trim().length > 64 || /\p{Cc}/u.test(raw)) throw new ConfigError('WEBAUTHN_RP_NAME', 'a name of at most 64 printable characters', raw);
      return raw.trim();
    }),
    webauthnOrigins,
    testPauseAt: or<TestPausePoint | null>('TEST_PAUSE_AT', null, (raw) => {
      if (production) throw new ConfigError('TEST_PAUSE_AT', 'to be unset in production (it stops the process on purpose, for crash tests)', raw);
      return parseEnum('TEST_PAUSE_AT', raw, TEST_PAUSE_POINTS);
    }),
    refreshKeys: secrets.refreshKeys,
    keyEncryptionKey: secrets.keyEncryptionKey,
    tracing: loadTracing(get),
  };
}

/**
 * OpenTelemetry's own variables (the SDK's specification), so a collector set up for other
 * services works unchanged: traces are on when an OTLP endpoint is given, and off otherwise, with
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Only OTLP over HTTP is bundled.
 */
function loadTracing(get: (name: string) => string | undefined): TracingConfig | null {
  if (maybe(get('OTEL_SDK_DISABLED'), (raw) => parseBoolean('OTEL_SDK_DISABLED', raw))) return null;
  const exporter = get('OTEL_TRACES_EXPORTER')?.trim();
  if (exporter === 'none') return null;
  if (exporter !== undefined && exporter !== 'otlp') throw new ConfigError('OTEL_TRACES_EXPORTER', 'otlp or none', exporter);
  const signal = get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = get('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (signal === undefined && base === undefined) return null;
  // The signal's own variable is the whole URL; the base one gets /v1/traces appended.
  const endpoint =
    signal !== undefined
      ? parseUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', signal, ['http:', 'https:']).toString()
      : parseUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base!, ['http:', 'https:']).toString().replace(/\/?$/, '/v1/traces');
  const protocolVariable = get('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = maybe(get(protocolVariable), (raw) => parseEnum(protocolVariable, raw, ['http/protobuf', 'http/json'] as const)) ?? 'http/protobuf';
  const sampler = maybe(get('OTEL_TRACES_SAMPLER'), (raw) => parseEnum('OTEL_TRACES_SAMPLER', raw, TRACE_SAMPLERS)) ?? 'parentbased_always_on';
  const samplerRatio =
    maybe(get('OTEL_TRACES_SAMPLER_ARG'), (raw) => {
      const ratio = Number(raw.trim());
      if (!/^\d*\.?\d+$/.test(raw.trim()) || ratio > 1) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', 'a sampling ratio from 0 to 1', raw);
      return ratio;
    }) ?? 1;
  const headersVariable = get('OTEL_EXPORTER_OTLP_TRACES_HEADERS') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_HEADERS' : 'OTEL_EXPORTER_OTLP_HEADERS';
  const headers = maybe(get(headersVariable), (raw) => parseOtlpHeaders(headersVariable, raw)) ?? {};
  return { endpoint, protocol, serviceName: get('OTEL_SERVICE_NAME')?.trim() ?? 'latchkey', sampler, samplerRatio, headers };
}

/** `key=value,key2=value2` (W3C baggage style, values percent-encoded). Never echoed: values are often API keys. */
function parseOtlpHeaders(variable: string, raw: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of raw.split(',')) {
    const at = entry.indexOf('=');
    const name = entry.slice(0, at).trim();
    if (at < 1 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ConfigError(variable, 'comma-separated name=value pairs, e.g. api-key=secret');
    let value: string;
    try {
      value = decodeURIComponent(entry.slice(at + 1).trim());
    } catch {
      throw new ConfigError(variable, `a percent-encoded value for ${name}`);
    }
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

interface Secrets {
  refreshKeys: RefreshKey[];
  keyEncryptionKey: Buffer;
}

/**
 * Production takes secrets from the environment only. The embedded default generates them on
 * first start and keeps them in `data/secrets.json` (mode 0600) so `npm start` needs no setup.
 */
function loadSecrets(env: Env, production: boolean, dataDir: string): Secrets {
  const refreshRaw = read(env, 'REFRESH_TOKEN_KEYS');
  const kekRaw = read(env, 'KEY_ENCRYPTION_KEY');
  if (production) {
    if (!refreshRaw) throw new ConfigError('REFRESH_TOKEN_KEYS', 'to be set in production: id:base64key, e.g. k1:$(openssl rand -base64 32)');
    if (!kekRaw) throw new ConfigError('KEY_ENCRYPTION_KEY', 'to be set in production: a 32-byte base64 key (openssl rand -base64 32)');
  }
  let stored: { refreshKeys?: string; keyEncryptionKey?: string } = {};
  const file = join(dataDir, 'secrets.json');
  if (!refreshRaw || !kekRaw) {
    if (existsSync(file)) {
      refuseUnlessOwnerOnly(file);
      stored = JSON.parse(readFileSync(file, 'utf8'));
    } else {
      stored = {
        refreshKeys: `k1:${randomBytes(32).toString('base64url')}`,
        keyEncryptionKey: randomBytes(32).toString('base64url'),
      };
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
    }
  }
  const refreshKeys = parseRefreshKeys('REFRESH_TOKEN_KEYS', refreshRaw ?? stored.refreshKeys ?? '');
  const keyEncryptionKey = parseKey('KEY_ENCRYPTION_KEY', kekRaw ?? stored.keyEncryptionKey ?? '');
  // One key, one purpose: a copy-pasted key would tie the refresh MACs to the key vault.
  if (refreshKeys.some((k) => k.key.equals(keyEncryptionKey))) {
    throw new ConfigError('KEY_ENCRYPTION_KEY', 'a key of its own, not one of the REFRESH_TOKEN_KEYS (generate one with: openssl rand -base64 32)');
  }
  return { refreshKeys, keyEncryptionKey };
}

/**
 * The embedded database (DATABASE_URL unset) and the -wal and -shm files SQLite keeps beside it
 * (left over after a crash, they hold recent writes): password hashes, sealed keys, sessions.
 */
export function sqliteFiles(dataDir: string): [database: string, wal: string, shm: string] {
  const database = join(dataDir, 'latchkey.sqlite');
  return [database, `${database}-wal`, `${database}-shm`];
}

/**
 * As ssh does with private keys: a file under DATA_DIR that holds secrets (secrets.json, the
 * embedded database and its -wal/-shm) is refused, not used, when group or others can read it.
 */
export function refuseUnlessOwnerOnly(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new ConfigError('DATA_DIR', `${file} to be readable by its owner only (chmod 600 ${file}); it is mode ${mode.toString(8).padStart(3, '0')}`);
  }
}

/** Injection token for the validated configuration. */
export const APP_CONFIG = Symbol('APP_CONFIG');
