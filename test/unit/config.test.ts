import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config';
import { ConfigError, parseDuration, parseRateLimit, parseRefreshKeys, parseMysqlUrl } from '../../src/config/parse';

const key = () => randomBytes(32).toString('base64');
const base = () => ({ DATA_DIR: mkdtempSync(join(tmpdir(), 'lk-config-')), REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: key() });

function failsNaming(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => loadConfig({ ...base(), ...env }),
    (error: unknown) => error instanceof ConfigError && error.variable === variable && error.message.startsWith(`${variable}:`),
    `${JSON.stringify(env)} should fail naming ${variable}`,
  );
}

describe('durations', () => {
  it('accepts s, m, h, d and plain seconds', () => {
    assert.equal(parseDuration('X', '10s'), 10);
    assert.equal(parseDuration('X', '15m'), 900);
    assert.equal(parseDuration('X', '2h'), 7200);
    assert.equal(parseDuration('X', '30d'), 2592000);
    assert.equal(parseDuration('X', '900'), 900);
  });
  it('rejects other shapes, naming the variable', () => {
    for (const bad of ['', '15 minutes', '1.5h', '-5s', '10w', 'abc', '0']) {
      assert.throws(() => parseDuration('ACCESS_TOKEN_TTL', bad), /ACCESS_TOKEN_TTL/, bad);
    }
  });
  it('allows a zero grace window where asked', () => {
    assert.equal(parseDuration('REFRESH_REUSE_GRACE', '0', { min: 0 }), 0);
  });
});

describe('rate limits', () => {
  it('parses limit/window and off', () => {
    assert.deepEqual(parseRateLimit('X', '20/1m'), { limit: 20, windowSeconds: 60 });
    assert.deepEqual(parseRateLimit('X', '5/15m'), { limit: 5, windowSeconds: 900 });
    assert.equal(parseRateLimit('X', 'off'), null);
    for (const bad of ['20', '0/1m', '20/', 'x/1m', '20/1w']) assert.throws(() => parseRateLimit('AUTH_RATE_LIMIT', bad), /AUTH_RATE_LIMIT/, bad);
  });
});

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig(base());
    assert.equal(c.port, 3000);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.mysql, null);
    assert.equal(c.accessTokenTtl, 900);
    assert.equal(c.refreshTokenTtl, 30 * 86400);
    assert.equal(c.refreshIdleTtl, 7 * 86400);
    assert.equal(c.refreshReuseGrace, 10);
    assert.equal(c.maxSessionsPerUser, 50);
    assert.equal(c.jwtIssuer, 'http://localhost:3000');
    assert.equal(c.jwtAudience, 'latchkey');
    assert.equal(c.registration, 'open');
    assert.deepEqual(c.authRateLimit, { limit: 20, windowSeconds: 60 });
    assert.deepEqual(c.loginLockout, { limit: 5, windowSeconds: 900 });
    assert.equal(c.trustProxy, false);
    assert.equal(c.cookieSecure, false, 'a localhost issuer defaults to non-Secure cookies');
    assert.equal(c.logLevel, 'info');
  });

  it('has the documented mail defaults: links at the issuer, the development outbox, 30-minute resets', () => {
    const c = loadConfig({ ...base(), JWT_ISSUER: 'https://auth.example.test' });
    assert.equal(c.appUrl, 'https://auth.example.test');
    assert.equal(c.smtpUrl, null);
    assert.equal(c.mailFrom, 'latchkey <no-reply@localhost>');
    assert.equal(c.passwordResetTtl, 1800);
    assert.equal(c.requireEmailVerification, false);
    assert.equal(loadConfig({ ...base(), APP_URL: 'https://example.test/accounts/' }).appUrl, 'https://example.test/accounts');
  });

  it('defaults COOKIE_SECURE to true for a non-localhost issuer', () => {
    assert.equal(loadConfig({ ...base(), JWT_ISSUER: 'https://auth.example.com' }).cookieSecure, true);
  });

  it('fails at start on a bad value, naming the variable', () => {
    failsNaming({ PORT: 'eighty' }, 'PORT');
    failsNaming({ PORT: '70000' }, 'PORT');
    failsNaming({ ACCESS_TOKEN_TTL: '15 min' }, 'ACCESS_TOKEN_TTL');
    failsNaming({ REFRESH_TOKEN_TTL: 'forever' }, 'REFRESH_TOKEN_TTL');
    failsNaming({ REFRESH_IDLE_TTL: '-1' }, 'REFRESH_IDLE_TTL');
    failsNaming({ REFRESH_REUSE_GRACE: 'ten' }, 'REFRESH_REUSE_GRACE');
    failsNaming({ MAX_SESSIONS_PER_USER: '0' }, 'MAX_SESSIONS_PER_USER');
    failsNaming({ JWT_ISSUER: 'not a url' }, 'JWT_ISSUER');
    failsNaming({ DATABASE_URL: 'postgres://localhost/db' }, 'DATABASE_URL');
    failsNaming({ DATABASE_URL: 'mysql://root@localhost/bad-name;drop' }, 'DATABASE_URL');
    failsNaming({ REGISTRATION: 'maybe' }, 'REGISTRATION');
    failsNaming({ AUTH_RATE_LIMIT: 'lots' }, 'AUTH_RATE_LIMIT');
    failsNaming({ LOGIN_LOCKOUT: '5' }, 'LOGIN_LOCKOUT');
    failsNaming({ REDIS_URL: 'http://localhost' }, 'REDIS_URL');
    failsNaming({ TRUST_PROXY: 'sometimes' }, 'TRUST_PROXY');
    failsNaming({ COOKIE_SECURE: 'perhaps' }, 'COOKIE_SECURE');
    failsNaming({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
    failsNaming({ ADMIN_EMAIL: 'root@example.com' }, 'ADMIN_PASSWORD');
    failsNaming({ ADMIN_EMAIL: 'nope', ADMIN_PASSWORD: 'long enough' }, 'ADMIN_EMAIL');
    failsNaming({ REFRESH_TOKEN_KEYS: 'k1:short' }, 'REFRESH_TOKEN_KEYS');
    failsNaming({ KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64') }, 'KEY_ENCRYPTION_KEY');
    failsNaming({ SMTP_URL: 'mail.example.test:25' }, 'SMTP_URL');
    failsNaming({ SMTP_URL: 'https://mail.example.test' }, 'SMTP_URL');
    failsNaming({ MAIL_FROM: 'no address' }, 'MAIL_FROM');
    failsNaming({ MAIL_FROM: 'Evil <a@b.test>\r\nBcc: everyone@b.test' }, 'MAIL_FROM');
    failsNaming({ APP_URL: 'ftp://example.test' }, 'APP_URL');
    failsNaming({ PASSWORD_RESET_TTL: 'forever' }, 'PASSWORD_RESET_TTL');
    failsNaming({ REQUIRE_EMAIL_VERIFICATION: 'maybe' }, 'REQUIRE_EMAIL_VERIFICATION');
    failsNaming({ JWT_ALG: 'HS256' }, 'JWT_ALG');
  });

  it('does not echo a database password in the error', () => {
    assert.throws(
      () => loadConfig({ ...base(), DATABASE_URL: 'postgres://root:hunter2@localhost/db' }),
      (error: Error) => !error.message.includes('hunter2'),
    );
  });

  it('parses a MySQL URL', () => {
    assert.deepEqual(parseMysqlUrl('DATABASE_URL', 'mysql://app:p%40ss@db.internal:3307/latchkey'), {
      host: 'db.internal',
      port: 3307,
      user: 'app',
      password: 'p@ss',
      database: 'latchkey',
    });
  });

  it('orders refresh keys newest first and rejects duplicates', () => {
    const keys = parseRefreshKeys('REFRESH_TOKEN_KEYS', `new:${key()}, old:${key()}`);
    assert.deepEqual(
      keys.map((k) => k.id),
      ['new', 'old'],
    );
    const k = key();
    assert.throws(() => parseRefreshKeys('REFRESH_TOKEN_KEYS', `a:${k},a:${key()}`), /distinct/);
  });

  it('generates secrets once under DATA_DIR with mode 0600 when none are given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-secrets-'));
    const first = loadConfig({ DATA_DIR: dir });
    const file = join(dir, 'secrets.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = loadConfig({ DATA_DIR: dir });
    assert.ok(first.keyEncryptionKey.equals(again.keyEncryptionKey), 'the same secrets on the next start');
    assert.ok(first.refreshKeys[0].key.equals(again.refreshKeys[0].key));
    assert.ok(JSON.parse(readFileSync(file, 'utf8')).refreshKeys);
  });

  it('refuses a secrets file that group or others can read, as ssh does with keys, and names the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-secrets-mode-'));
    loadConfig({ DATA_DIR: dir });
    const file = join(dir, 'secrets.json');
    for (const mode of [0o640, 0o604, 0o644, 0o666]) {
      chmodSync(file, mode);
      assert.throws(
        () => loadConfig({ DATA_DIR: dir }),
        (e: unknown) => e instanceof ConfigError && e.variable === 'DATA_DIR' && /chmod 600/.test(e.message),
        `mode ${mode.toString(8)}`,
      );
    }
    chmodSync(file, 0o600);
    assert.doesNotThrow(() => loadConfig({ DATA_DIR: dir }));
    chmodSync(file, 0o400);
    assert.doesNotThrow(() => loadConfig({ DATA_DIR: dir }), 'owner-only read is fine');
  });

  it('refuses to start in production without secrets from the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-prod-'));
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'REFRESH_TOKEN_KEYS',
    );
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, REFRESH_TOKEN_KEYS: `k1:${key()}` }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'KEY_ENCRYPTION_KEY',
    );
    assert.throws(
      () =>
        loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, REFRESH_TOKEN_KEYS: `k1:${Buffer.alloc(32, 'a').toString('base64')}`, KEY_ENCRYPTION_KEY: key() }),
      /placeholder/,
    );
  });

  it('reads TRUST_PROXY as hops or proxy addresses, and true as one hop, never as "trust everything"', () => {
    const trust = (v: string) => loadConfig({ ...base(), TRUST_PROXY: v }).trustProxy;
    assert.equal(trust('false'), false);
    assert.equal(trust('true'), 1);
    assert.equal(trust('2'), 2);
    assert.deepEqual(trust('10.0.0.0/8, ::1'), ['10.0.0.0/8', '::1']);
    for (const bad of ['sometimes', '10.0.0.0/33', '10.0.0.0/8/1', 'fe80::/129', 'example.com']) failsNaming({ TRUST_PROXY: bad }, 'TRUST_PROXY');
  });

  it('reads the second-factor settings with their documented defaults, failing on a bad value by name', () => {
    const c = loadConfig(base());
    assert.equal(c.mfaRequired, 'off');
    assert.equal(c.mfaTokenTtl, 300);
    assert.equal(c.aal2MaxAge, 86400);
    assert.equal(c.reauthMaxAge, 900);
    assert.equal(c.trustedDeviceTtl, 30 * 86400);
    assert.deepEqual(c.mfaLockout, { limit: 10, windowSeconds: 900 });
    assert.equal(c.mfaMaxFailures, 100);
    assert.equal(c.webauthnRpId, 'localhost');
    assert.equal(c.webauthnRpName, 'latchkey');
    assert.deepEqual(c.webauthnOrigins, ['http://localhost:3000']);

    const set = loadConfig({
      ...base(),
      MFA_REQUIRED: 'admin',
      MFA_TOKEN_TTL: '2m',
      AAL2_MAX_AGE: '12h',
      REAUTH_MAX_AGE: '5m',
      TRUSTED_DEVICE_TTL: 'off',
      MFA_LOCKOUT: 'off',
      MFA_MAX_FAILURES: '7',
      APP_URL: 'https://id.example.com',
      WEBAUTHN_RP_ID: 'example.com',
      WEBAUTHN_RP_NAME: 'Example',
      WEBAUTHN_ORIGINS: 'https://id.example.com,https://app.example.com',
    });
    assert.equal(set.mfaRequired, 'admin');
    assert.equal(set.mfaTokenTtl, 120);
    assert.equal(set.aal2MaxAge, 43200);
    assert.equal(set.reauthMaxAge, 300);
    assert.equal(set.trustedDeviceTtl, null);
    assert.equal(set.mfaLockout, null);
    assert.equal(set.mfaMaxFailures, 7);
    assert.equal(set.webauthnRpId, 'example.com');
    assert.equal(set.webauthnRpName, 'Example');
    assert.deepEqual(set.webauthnOrigins, ['https://id.example.com', 'https://app.example.com']);
    // The relying party follows APP_URL by default.
    const fromAppUrl = loadConfig({ ...base(), APP_URL: 'https://login.example.org/base' });
    assert.equal(fromAppUrl.webauthnRpId, 'login.example.org');
    assert.deepEqual(fromAppUrl.webauthnOrigins, ['https://login.example.org']);

    failsNaming({ MFA_REQUIRED: 'everyone' }, 'MFA_REQUIRED');
    failsNaming({ MFA_TOKEN_TTL: '5 minutes' }, 'MFA_TOKEN_TTL');
    failsNaming({ AAL2_MAX_AGE: '0' }, 'AAL2_MAX_AGE');
    failsNaming({ REAUTH_MAX_AGE: '-1' }, 'REAUTH_MAX_AGE');
    failsNaming({ TRUSTED_DEVICE_TTL: 'forever' }, 'TRUSTED_DEVICE_TTL');
    failsNaming({ MFA_LOCKOUT: '10' }, 'MFA_LOCKOUT');
    failsNaming({ MFA_MAX_FAILURES: '0' }, 'MFA_MAX_FAILURES');
    failsNaming({ WEBAUTHN_RP_ID: 'https://example.com' }, 'WEBAUTHN_RP_ID');
    failsNaming({ WEBAUTHN_RP_NAME: 'x'.repeat(65) }, 'WEBAUTHN_RP_NAME');
    failsNaming({ WEBAUTHN_ORIGINS: 'https://app.example.com/path' }, 'WEBAUTHN_ORIGINS');
    failsNaming({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://evil.test' }, 'WEBAUTHN_ORIGINS');
  });

  it('limits data exports to 3 an hour per user by default; EXPORT_RATE_LIMIT sets or turns it off', () => {
    assert.deepEqual(loadConfig(base()).exportRateLimit, { limit: 3, windowSeconds: 3600 });
    assert.deepEqual(loadConfig({ ...base(), EXPORT_RATE_LIMIT: '10/1d' }).exportRateLimit, { limit: 10, windowSeconds: 86400 });
    assert.equal(loadConfig({ ...base(), EXPORT_RATE_LIMIT: 'off' }).exportRateLimit, null);
    failsNaming({ EXPORT_RATE_LIMIT: '3' }, 'EXPORT_RATE_LIMIT');
    failsNaming({ EXPORT_RATE_LIMIT: '0/1h' }, 'EXPORT_RATE_LIMIT');
  });

  it('caps open streams per session, user and client by default, and validates STREAMS_*', () => {
    assert.deepEqual(loadConfig(base()).streams, { perSession: 4, perUser: 16, perClient: 100, max: null });
    assert.deepEqual(loadConfig({ ...base(), STREAMS_PER_SESSION: '2', STREAMS_PER_USER: '8', STREAMS_PER_CLIENT: '50', STREAMS_MAX: '500' }).streams, {
      perSession: 2,
      perUser: 8,
      perClient: 50,
      max: 500,
    });
    for (const variable of ['STREAMS_PER_SESSION', 'STREAMS_PER_USER', 'STREAMS_PER_CLIENT', 'STREAMS_MAX']) {
      for (const bad of ['0', '-1', 'many', '1.5']) failsNaming({ [variable]: bad }, variable);
    }
  });

  it('TEST_PAUSE_AT: unset by default, one named point, and never in production', () => {
    assert.equal(loadConfig(base()).testPauseAt, null);
    assert.equal(loadConfig({ ...base(), TEST_PAUSE_AT: 'account_deletion' }).testPauseAt, 'account_deletion');
    failsNaming({ TEST_PAUSE_AT: 'somewhere' }, 'TEST_PAUSE_AT');
    failsNaming({ TEST_PAUSE_AT: 'account_deletion', NODE_ENV: 'production', SMTP_URL: 'smtp://mail.example.test:25' }, 'TEST_PAUSE_AT');
  });
});

describe('OpenTelemetry (OTEL_*)', () => {
  it('is off unless an OTLP endpoint is given, and off again with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
    assert.equal(loadConfig(base()).tracing, null);
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.notEqual(loadConfig({ ...base(), ...on }).tracing, null);
    assert.equal(loadConfig({ ...base(), ...on, OTEL_SDK_DISABLED: 'true' }).tracing, null);
    assert.equal(loadConfig({ ...base(), ...on, OTEL_TRACES_EXPORTER: 'none' }).tracing, null);
  });
  it('reads the standard variables, with latchkey as the service name', () => {
    const tracing = loadConfig({
      ...base(),
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s%3Dcret, X-Tenant=a',
    }).tracing!;
    assert.equal(tracing.endpoint, 'https://collector:4318/v1/traces');
    assert.equal(tracing.protocol, 'http/protobuf');
    assert.equal(tracing.serviceName, 'latchkey');
    assert.equal(tracing.sampler, 'parentbased_traceidratio');
    assert.equal(tracing.samplerRatio, 0.25);
    assert.deepEqual(tracing.headers, { 'api-key': 's=cret', 'x-tenant': 'a' });
    const own = loadConfig({
      ...base(),
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom/path',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:1',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'auth-eu',
    }).tracing!;
    assert.equal(own.endpoint, 'http://c:4318/custom/path');
    assert.equal(own.protocol, 'http/json');
    assert.equal(own.serviceName, 'auth-eu');
  });
  it('refuses bad values naming the variable, and never echoes a header value', () => {
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    failsNaming({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL');
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER');
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER_ARG: '1.5' }, 'OTEL_TRACES_SAMPLER_ARG');
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER');
    failsNaming({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'maybe' }, 'OTEL_SDK_DISABLED');
    assert.throws(
      () => loadConfig({ ...base(), OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=topsecret,broken' }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'OTEL_EXPORTER_OTLP_HEADERS' && !error.message.includes('topsecret'),
    );
  });
});
