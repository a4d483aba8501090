import { isIP } from 'node:net';

/**
 * Pure parsers for configuration values. Each throws a ConfigError that names the
 * variable and says what it expects, so a bad deployment fails at start with a
 * message an operator can act on.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    value?: string,
  ) {
    super(
      value === undefined
        ? `${variable}: ${expected}`
        : `${variable}: expected ${expected}, got ${JSON.stringify(value.length > 80 ? value.slice(0, 80) + '…' : value)}`,
    );
    this.name = 'ConfigError';
  }
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `15m`, `30d`, `10s`, `2h` or plain seconds (`900`) into whole seconds. */
export function parseDuration(variable: string, raw: string, opts: { min?: number } = {}): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(raw.trim());
  if (!match) throw new ConfigError(variable, 'a duration such as 15m, 7d, 10s, 2h or plain seconds', raw);
  const seconds = Number(match[1]) * (match[2] ? DURATION_UNITS[match[2]] : 1);
  const min = opts.min ?? 1;
  if (seconds < min) throw new ConfigError(variable, `a duration of at least ${min}s`, raw);
  return seconds;
}

export function parseInteger(variable: string, raw: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(raw.trim())) throw new ConfigError(variable, `an integer from ${min} to ${max}`, raw);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(variable, `an integer from ${min} to ${max}`, raw);
  return n;
}

export function parseBoolean(variable: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(variable, 'true or false', raw);
}

export function parseEnum<T extends string>(variable: string, raw: string, allowed: readonly T[]): T {
  const v = raw.trim() as T;
  if (!allowed.includes(v)) throw new ConfigError(variable, `one of ${allowed.join(', ')}`, raw);
  return v;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** Parses `20/1m` (20 attempts per minute) or `off`. */
export function parseRateLimit(variable: string, raw: string): RateLimit | null {
  const v = raw.trim();
  if (v === 'off') return null;
  const match = /^(\d{1,6})\/(.+)$/.exec(v);
  if (!match || Number(match[1]) < 1) throw new ConfigError(variable, 'a limit such as 20/1m (attempts per window) or off', raw);
  return { limit: Number(match[1]), windowSeconds: parseDuration(variable, match[2]) };
}

export function parseUrl(variable: string, raw: string, protocols: string[]): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError(variable, `a URL (${protocols.join(' or ')})`, raw.replace(/\/\/[^@/]*@/, '//***@'));
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`, raw.replace(/\/\/[^@/]*@/, '//***@'));
  }
  return url;
}

export interface MysqlUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseMysqlUrl(variable: string, raw: string): MysqlUrl {
  const url = parseUrl(variable, raw, ['mysql:', 'mariadb:']);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  // The name is interpolated into CREATE DATABASE (identifiers cannot be bound), so it is
  // restricted to a safe alphabet here.
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new ConfigError(variable, 'a database name of letters, digits and underscores, e.g. mysql://root@127.0.0.1:3306/latchkey');
  }
  return {
    host: url.hostname || '127.0.0.1',
    port: url.port ? parseInteger(variable, url.port, 1, 65535) : 3306,
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    database,
  };
}

/** A 32-byte key given as base64 or base64url. */
export function parseKey(variable: string, raw: string): Buffer {
  const v = raw.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) throw new ConfigError(variable, 'a 32-byte key in base64 (generate one with: openssl rand -base64 32)');
  const key = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length !== 32) throw new ConfigError(variable, `a 32-byte key in base64, got ${key.length} bytes (generate one with: openssl rand -base64 32)`);
  if (isPlaceholderKey(key)) throw new ConfigError(variable, 'a random key, not a placeholder (generate one with: openssl rand -base64 32)');
  return key;
}

/** Keys that are obviously not random: one repeated byte, or very few distinct bytes. */
export function isPlaceholderKey(key: Buffer): boolean {
  return new Set(key).size < 8;
}

export interface RefreshKey {
  id: string;
  key: Buffer;
}

/**
 * `REFRESH_TOKEN_KEYS=k2:<base64>,k1:<base64>`: the first is used to sign new chain links,
 * every listed one is accepted, so old chains keep working through a key rotation.
 */
export function parseRefreshKeys(variable: string, raw: string): RefreshKey[] {
  const keys = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^([A-Za-z0-9_-]{1,16}):(.+)$/.exec(part);
      if (!match) throw new ConfigError(variable, 'a comma-separated list of id:base64key, newest first (id: 1-16 of A-Z a-z 0-9 _ -)');
      return { id: match[1], key: parseKey(variable, match[2]) };
    });
  if (keys.length === 0) throw new ConfigError(variable, 'at least one id:base64key');
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new ConfigError(variable, 'distinct key ids');
  return keys;
}

export function parseOrigins(variable: string, raw: string): string[] {
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      const url = parseUrl(variable, o, ['http:', 'https:']);
      if (url.pathname !== '/' || url.search || url.hash) throw new ConfigError(variable, 'origins such as https://app.example.com, without a path', o);
      return url.origin;
    });
}

/** false, a number of hops, or the proxies' addresses and CIDR ranges (Fastify's trustProxy). */
export type TrustProxy = false | number | string[];

/**
 * TRUST_PROXY: `false`, a hop count (`1`, `2`…), or a comma-separated list of proxy addresses
 * and CIDR ranges. `true` means one hop: the address the nearest proxy saw. Never "trust
 * everything", which would believe the left-most X-Forwarded-For entry, written by the client.
 */
export function parseTrustProxy(variable: string, raw: string): TrustProxy {
  const v = raw.trim().toLowerCase();
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  if (['true', 'yes', 'on'].includes(v)) return 1;
  if (/^\d{1,2}$/.test(v)) return parseInteger(variable, v, 1, 32);
  const entries = v
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const expected = 'false, a hop count (1, 2…), or proxy addresses/CIDR ranges such as 10.0.0.0/8,::1';
  if (entries.length === 0) throw new ConfigError(variable, expected, raw);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address);
    const maxBits = family === 4 ? 32 : 128;
    if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits)))
      throw new ConfigError(variable, expected, raw);
  }
  return entries;
}

/** A sender: `Name <address@domain>` or `address@domain`; never anything that could break a header line. */
export function parseMailbox(variable: string, raw: string): string {
  const value = raw.trim();
  const address = /<([^<>]+)>$/.exec(value)?.[1] ?? value;
  if (/[\r\n]/.test(value) || !/^[^\s@<>"]+@[^\s@<>"]+$/.test(address))
    throw new ConfigError(variable, 'an address (no-reply@example.com) or a name and an address (Example <no-reply@example.com>)', raw);
  return value;
}
