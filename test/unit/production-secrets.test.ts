import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config';
import { ConfigError } from '../../src/config/parse';
import { FileOffsetClock } from '../../src/common/clock';

/**
 * NODE_ENV=production takes its secrets from the environment only, and refuses missing,
 * malformed or placeholder ones, naming the variable and never echoing the value.
 */
const key = () => randomBytes(32).toString('base64');
const dir = () => mkdtempSync(join(tmpdir(), 'lk-prod-'));
/** Production also needs a mail server (SMTP_URL); these tests are about the secrets. */
const MAIL = { SMTP_URL: 'smtp://mail.example.test:587' };

function refuses(env: Record<string, string>, variable: string, label: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig({ NODE_ENV: 'production', DATA_DIR: dir(), ...MAIL, ...env });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `${label}: refused with a ConfigError, got ${String(caught)}`);
  assert.equal(caught.variable, variable, `${label}: names ${variable}`);
  for (const value of Object.values(env)) {
    const secret = value.includes(':') ? value.split(',').map((p) => p.slice(p.indexOf(':') + 1)) : [value];
    for (const s of secret) if (s.length >= 8) assert.ok(!caught.message.includes(s), `${label}: the message does not echo the secret`);
  }
  return caught;
}

/** 32 bytes that are anything but random, in the encodings an operator might paste. */
const placeholders: Array<[string, string]> = [
  ['32 zero bytes', Buffer.alloc(32).toString('base64')],
  ['one repeated letter', Buffer.alloc(32, 'x').toString('base64')],
  ['"changeme" repeated', Buffer.from('changeme'.repeat(4)).toString('base64')],
  ['"secret" padded', Buffer.from('secretsecretsecretsecretsecret!!').toString('base64url')],
  ['a counting pattern of 4 bytes', Buffer.from([...Array(32)].map((_, i) => i % 4)).toString('base64')],
];
const malformed: Array<[string, string]> = [
  ['the documented command, unexpanded', '$(openssl rand -base64 32)'],
  ['16 bytes', randomBytes(16).toString('base64')],
  ['64 bytes', randomBytes(64).toString('base64')],
  ['hex instead of base64', randomBytes(32).toString('hex')],
  ['a word', 'changeme'],
];

describe('production secrets', () => {
  it('start with good secrets from the environment, and write no secrets file', () => {
    const dataDir = dir();
    const config = loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...MAIL, REFRESH_TOKEN_KEYS: `k2:${key()},k1:${key()}`, KEY_ENCRYPTION_KEY: key() });
    assert.equal(config.production, true);
    assert.deepEqual(
      config.refreshKeys.map((k) => k.id),
      ['k2', 'k1'],
    );
    assert.equal(existsSync(join(dataDir, 'secrets.json')), false, 'production never generates secrets');
  });

  it('refuses missing secrets, even when a development secrets file is lying around', () => {
    const dataDir = dir();
    writeFileSync(join(dataDir, 'secrets.json'), JSON.stringify({ refreshKeys: `k1:${key()}`, keyEncryptionKey: key() }));
    for (const env of [{}, { KEY_ENCRYPTION_KEY: key() }, { REFRESH_TOKEN_KEYS: '   ' }]) {
      assert.throws(
        () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...MAIL, ...env }),
        (e: unknown) => e instanceof ConfigError && e.variable === 'REFRESH_TOKEN_KEYS',
      );
    }
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...MAIL, REFRESH_TOKEN_KEYS: `k1:${key()}` }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'KEY_ENCRYPTION_KEY',
    );
  });

  for (const [label, value] of placeholders) {
    it(`refuses a placeholder KEY_ENCRYPTION_KEY: ${label}`, () => {
      assert.match(refuses({ REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: value }, 'KEY_ENCRYPTION_KEY', label).message, /placeholder/);
    });
    it(`refuses a placeholder refresh key, first or later in the list: ${label}`, () => {
      refuses({ REFRESH_TOKEN_KEYS: `k1:${value}`, KEY_ENCRYPTION_KEY: key() }, 'REFRESH_TOKEN_KEYS', `${label}, signing key`);
      refuses({ REFRESH_TOKEN_KEYS: `k2:${key()},k1:${value}`, KEY_ENCRYPTION_KEY: key() }, 'REFRESH_TOKEN_KEYS', `${label}, old key`);
    });
  }
  for (const [label, value] of malformed) {
    it(`refuses a malformed key: ${label}`, () => {
      refuses({ REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: value }, 'KEY_ENCRYPTION_KEY', label);
      refuses({ REFRESH_TOKEN_KEYS: `k1:${value}`, KEY_ENCRYPTION_KEY: key() }, 'REFRESH_TOKEN_KEYS', label);
    });
  }

  it('refuses refresh keys without ids, with repeated ids, or one key for two purposes', () => {
    const k = key();
    refuses({ REFRESH_TOKEN_KEYS: k, KEY_ENCRYPTION_KEY: key() }, 'REFRESH_TOKEN_KEYS', 'no id');
    refuses({ REFRESH_TOKEN_KEYS: `k1:${key()},k1:${key()}`, KEY_ENCRYPTION_KEY: key() }, 'REFRESH_TOKEN_KEYS', 'repeated id');
    refuses({ REFRESH_TOKEN_KEYS: `bad id!:${key()}`, KEY_ENCRYPTION_KEY: key() }, 'REFRESH_TOKEN_KEYS', 'bad id');
    refuses({ REFRESH_TOKEN_KEYS: `k2:${key()},k1:${k}`, KEY_ENCRYPTION_KEY: k }, 'KEY_ENCRYPTION_KEY', 'the same key twice');
  });

  it('the real process exits with EX_CONFIG (78), naming the variable and nothing secret', () => {
    const main = join(__dirname, '../../src/main.js');
    const placeholder = Buffer.alloc(32, 'a').toString('base64');
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'REFRESH_TOKEN_KEYS'],
      [{ REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: placeholder }, 'KEY_ENCRYPTION_KEY'],
      [{ REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: key(), TEST_CLOCK_FILE: join(dir(), 'offset-ms') }, 'TEST_CLOCK_FILE'],
    ];
    for (const [env, variable] of cases) {
      const dataDir = dir();
      const { REFRESH_TOKEN_KEYS: _r, KEY_ENCRYPTION_KEY: _k, DATABASE_URL: _d, ...inherited } = process.env;
      const run = spawnSync(process.execPath, [main], {
        env: { ...inherited, NODE_ENV: 'production', DATA_DIR: dataDir, PORT: '0', ...MAIL, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 78, `${variable}: exit code (stderr: ${run.stderr})`);
      assert.match(run.stderr, new RegExp(`configuration error: ${variable}:`));
      assert.ok(!run.stderr.includes(placeholder), 'the value is not echoed');
      assert.equal(existsSync(join(dataDir, 'secrets.json')), false);
      assert.equal(existsSync(join(dataDir, 'latchkey.sqlite')), false, 'nothing was opened before the refusal');
    }
  });
});

describe('production mail', () => {
  it('refuses to start without SMTP_URL (mail would only land in files on the host), and takes smtp:// or smtps://', () => {
    const secrets = { REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: key() };
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir(), ...secrets }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'SMTP_URL',
    );
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir(), ...secrets, SMTP_URL: 'http://mail.example.test' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'SMTP_URL',
    );
    assert.equal(
      loadConfig({ NODE_ENV: 'production', DATA_DIR: dir(), ...secrets, SMTP_URL: 'smtps://u:p@mail.example.test' }).smtpUrl,
      'smtps://u:p@mail.example.test',
    );
    assert.equal(loadConfig({ DATA_DIR: dir() }).smtpUrl, null, 'development: the outbox directory');
  });
});

describe('the test-only clock (TEST_CLOCK_FILE)', () => {
  it('is refused in production, naming the variable, and read as a path elsewhere', () => {
    const secrets = { REFRESH_TOKEN_KEYS: `k1:${key()}`, KEY_ENCRYPTION_KEY: key() };
    const file = join(dir(), 'offset-ms');
    refuses({ ...secrets, TEST_CLOCK_FILE: file }, 'TEST_CLOCK_FILE', 'production');
    assert.equal(loadConfig({ NODE_ENV: 'production', DATA_DIR: dir(), ...MAIL, ...secrets }).testClockFile, null, 'unset: the real clock');
    assert.equal(loadConfig({ DATA_DIR: dir(), TEST_CLOCK_FILE: file }).testClockFile, file);
  });

  it('moves the clock by the milliseconds in the file; no file or no number is no offset', () => {
    const file = join(dir(), 'offset-ms');
    const clock = new FileOffsetClock(file);
    const near = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 5_000, `${actual} near ${expected}`);
    near(clock.now(), Date.now());
    writeFileSync(file, String(3 * 86_400_000));
    near(clock.now(), Date.now() + 3 * 86_400_000);
    writeFileSync(file, 'not a number');
    near(clock.now(), Date.now());
  });
});
