/**
 * Shared plumbing for the benchmark scenarios: a fresh MariaDB database per scenario, the real
 * app as a child process, autocannon driven programmatically, bounded HTTP helpers, and the
 * JSON/table output. Everything targets 127.0.0.1 only.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey, KeyObject, randomBytes } from 'node:crypto';
import { SigningAlg, signCompactAsync } from '../src/common/jws';
import { unseal } from '../src/common/sealed';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as mysql from 'mysql2/promise';
import { uuidv7 } from '../src/common/ids';
// autocannon ships no typings; the subset used here is typed below.

const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult> & { stop?: () => void };

export const ROOT = resolve(__dirname, '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
export const HOST = '127.0.0.1';
export const MYSQL = { host: HOST, port: 3306, user: 'root' };
/** Every scenario's database starts with this prefix and is dropped and recreated per run. */
export const DB_PREFIX = 'latchkey_bench';

/** Measurement knobs, overridable from the environment (BENCH_DURATION=10 npm run bench). */
export const DURATION = Number(process.env.BENCH_DURATION ?? 6);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const PASSWORD = 'bench-password-1';

export interface AutocannonResult {
  requests: { average: number; mean: number; total: number; p50: number };
  latency: { average: number; p50: number; p90: number; p99: number; max: number };
  throughput: { average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

export interface LoadSummary {
  label: string;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  total: number;
  non2xx: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  errors: number;
  connections: number;
  durationS: number;
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ---------------------------------------------------------------- database

export function dbName(scenario: string): string {
  const name = `${DB_PREFIX}_${scenario}`.replace(/[^A-Za-z0-9_]/g, '_');
  if (!name.startsWith(DB_PREFIX)) throw new Error('refusing a database outside the bench prefix');
  return name;
}

/** Drops and recreates one bench database (only names under the bench prefix). */
export async function freshDatabase(name: string): Promise<void> {
  if (!name.startsWith(DB_PREFIX)) throw new Error(`refusing to touch ${name}`);
  const conn = await mysql.createConnection(MYSQL);
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  if (!name.startsWith(DB_PREFIX)) throw new Error(`refusing to touch ${name}`);
  const conn = await mysql.createConnection(MYSQL);
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await conn.end();
  }
}

export function connect(database: string, extra: Record<string, unknown> = {}): Promise<mysql.Connection> {
  return mysql.createConnection({ ...MYSQL, database, supportBigNumbers: true, bigNumberStrings: false, ...extra });
}

// ---------------------------------------------------------------- the app as a child process

export interface Secrets {
  refreshKeyId: string;
  refreshKey: Buffer;
  keyEncryptionKey: Buffer;
}

export function generateSecrets(): Secrets {
  return { refreshKeyId: 'bench1', refreshKey: randomBytes(32), keyEncryptionKey: randomBytes(32) };
}

let nextPort = Number(process.env.BENCH_PORT_BASE ?? 41000) + (process.pid % 500) * 8;
export function freePort(): number {
  return nextPort++;
}

export interface AppProcess {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
  rssMb(): number;
}

export interface StartOptions {
  name: string;
  database: string;
  secrets: Secrets;
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** Defaults to dist/src/main.js. */
  script?: string;
  /** Defaults to the next free one (freePort()). */
  port?: number;
  /** The process's open-file limit (soft and hard), set by prlimit(1) before node starts. */
  openFiles?: number;
}

export function appEnv(database: string, secrets: Secrets, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'development',
    DATABASE_URL: `mysql://root@${HOST}:3306/${database}`,
    HOST,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    AUTH_RATE_LIMIT: 'off',
    LOGIN_LOCKOUT: 'off',
    REFRESH_TOKEN_KEYS: `${secrets.refreshKeyId}:${secrets.refreshKey.toString('base64')}`,
    KEY_ENCRYPTION_KEY: secrets.keyEncryptionKey.toString('base64'),
    DATA_DIR: join(tmpdir(), `latchkey-bench-data-${process.pid}`),
    ...extra,
  };
}

/** Starts `node dist/src/main.js` and waits (bounded) until /health answers. */
export async function startApp(options: StartOptions): Promise<AppProcess> {
  const port = options.port ?? freePort();
  const logDir = join(tmpdir(), 'latchkey-bench-logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${options.name}-${port}.log`);
  const out = createWriteStream(logFile);
  const script = options.script ?? join(ROOT, 'dist', 'src', 'main.js');
  // Diagnostics only, e.g. BENCH_APP_NODE_ARGS=--trace-gc (output in the app's log file).
  const extraArgs = process.env.BENCH_APP_NODE_ARGS ? process.env.BENCH_APP_NODE_ARGS.split(' ').filter(Boolean) : [];
  const argv = [...extraArgs, ...(options.nodeArgs ?? []), script];
  // prlimit sets the limit and execs node in place: the child's pid stays node's.
  const [command, args] = options.openFiles
    ? ['prlimit', [`--nofile=${options.openFiles}:${options.openFiles}`, '--', process.execPath, ...argv]]
    : [process.execPath, argv];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: appEnv(options.database, options.secrets, port, options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));
  // A bench that dies outright (autocannon can throw from its parser, past every cleanup) takes
  // its apps with it instead of leaving them serving, and loading the machine, for hours.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const url = `http://${HOST}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`${options.name} exited with ${exited} during start; see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} did not answer /health within 60 s; see ${logFile}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  const pid = child.pid!;
  return {
    name: options.name,
    url,
    port,
    child,
    pid,
    logFile,
    rssMb: () => rssMb(pid),
    stop: async () => {
      if (exited !== null) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** VmRSS of a process, in MiB, from /proc. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? round(Number(m[1]) / 1024, 1) : NaN;
}

// ---------------------------------------------------------------- HTTP helpers (bounded)

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  session_id: string;
  device_id: string;
}

export async function postJson<T = unknown>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

export async function register(app: { url: string }, email: string): Promise<void> {
  const r = await postJson(`${app.url}/auth/register`, { email, password: PASSWORD });
  if (r.status !== 201) throw new Error(`register ${email}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** A setup login: waits out load shedding (503 while the hashing queue drains after a flood), for up to 30 s. */
export async function login(app: { url: string }, email: string, deviceId?: string): Promise<TokenResponse> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await postJson<TokenResponse>(`${app.url}/auth/login`, { email, password: PASSWORD, ...(deviceId ? { deviceId } : {}) });
    if (r.status === 200) return r.body;
    if (r.status !== 503 || Date.now() > deadline) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function refresh(app: { url: string }, refreshToken: string): Promise<TokenResponse> {
  const r = await postJson<TokenResponse>(`${app.url}/auth/token`, { grant_type: 'refresh_token', refresh_token: refreshToken });
  if (r.status !== 200) throw new Error(`refresh: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function parallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/**
 * Registers `users` users and opens `perUser` sessions for each via POST /auth/login (distinct
 * device ids, within MAX_SESSIONS_PER_USER). Returns every token response.
 */
export async function seedViaLogin(app: { url: string }, tag: string, users: number, perUser: number, concurrency = 8): Promise<TokenResponse[]> {
  const emails = Array.from({ length: users }, (_, i) => `${tag}-${i}@bench.test`);
  await parallel(users, concurrency, (i) => register(app, emails[i]));
  return parallel(users * perUser, concurrency, (i) => login(app, emails[i % users], `dev-${tag}-${i}`));
}

/** The app's current signing key, unsealed as SigningKeysService does. */
export async function appSigningKey(database: string, secrets: Secrets): Promise<AppSigningKey> {
  const conn = await connect(database);
  try {
    const [rows] = (await conn.query(
      'SELECT kid, alg, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1',
    )) as unknown as [Array<{ kid: string; alg: SigningAlg; private_key: string }>];
    const { kid, alg, private_key: box } = rows[0];
    return { kid, alg, key: createPrivateKey({ key: unseal(secrets.keyEncryptionKey, box, kid), format: 'der', type: 'pkcs8' }) };
  } finally {
    await conn.end();
  }
}

export interface AppSigningKey {
  kid: string;
  alg: SigningAlg;
  key: KeyObject;
}

/** `count` distinct access tokens with the app's claims and algorithm, signed on libuv's thread pool. */
export async function mintAccessTokens(
  signing: AppSigningKey,
  sessions: Array<{ session_id: string; user: { id: string } }>,
  count: number,
  issuer = 'http://localhost:3000',
  extraClaims: (iat: number) => Record<string, unknown> = () => ({}),
): Promise<string[]> {
  const out: string[] = new Array(count);
  await parallel(count, 8, async (i) => {
    const s = sessions[i % sessions.length];
    const iat = Math.floor(Date.now() / 1000);
    const claims = { sid: s.session_id, role: 'user', iat, exp: iat + 900, aud: 'latchkey', iss: issuer, sub: s.user.id, jti: uuidv7(), ...extraClaims(iat) };
    out[i] = await signCompactAsync(signing.alg, signing.key, { typ: 'at+jwt', kid: signing.kid }, claims);
  });
  return out;
}

// ---------------------------------------------------------------- autocannon

export interface LoadOptions {
  label: string;
  url: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  duration?: number;
  warmup?: number;
  overallRate?: number;
  /** Stop after this many requests instead of after `duration` (each request needs a one-time input). */
  amount?: number;
  setupRequest?: (req: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown> | null;
  onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
}

/** One bounded autocannon run against 127.0.0.1. */
export async function load(o: LoadOptions): Promise<LoadSummary> {
  if (!o.url.startsWith(`http://${HOST}:`)) throw new Error('benchmarks only target 127.0.0.1');
  const connections = o.connections ?? CONNECTIONS;
  const duration = o.duration ?? DURATION;
  const warmup = o.warmup ?? WARMUP;
  const request: Record<string, unknown> = { method: o.method ?? 'GET', path: o.path };
  if (o.headers) request.headers = o.headers;
  if (o.body !== undefined) request.body = o.body;
  if (o.setupRequest) request.setupRequest = o.setupRequest;
  if (o.onResponse) request.onResponse = o.onResponse;
  const opts: Record<string, unknown> = {
    url: o.url,
    connections,
    duration,
    timeout: 10,
    requests: [request],
    ...(o.overallRate ? { overallRate: o.overallRate } : {}),
    ...(o.amount ? { amount: o.amount } : {}),
    ...(warmup > 0 && !o.amount ? { warmup: { connections, duration: warmup } } : {}),
  };
  const r = await autocannon(opts);
  const summary: LoadSummary = {
    label: o.label,
    rps: round(r.requests.total / r.duration, 0),
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    total: r.requests.total,
    non2xx: r.non2xx,
    statuses: Object.fromEntries(
      Object.entries((r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).map(([code, v]) => [code, v.count]),
    ),
    errors: r.errors + r.timeouts,
    connections,
    durationS: o.amount ? r.duration : duration,
  };
  log(
    `${o.label}: ${summary.rps} req/s, p50 ${summary.p50} ms, p99 ${summary.p99} ms${summary.non2xx || summary.errors ? `, non2xx ${summary.non2xx}, errors ${summary.errors}` : ''}`,
  );
  return summary;
}

// ---------------------------------------------------------------- output

export function printTable(title: string, rows: Array<Record<string, unknown>>): void {
  process.stdout.write(`\n${title}\n`);
  console.table(rows);
}

export function writeResult(scenario: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${scenario}.json`);
  writeFileSync(file, JSON.stringify({ scenario, date: new Date().toISOString(), node: process.version, ...data }, null, 2) + '\n');
  log(`wrote ${file}`);
  return file;
}

/** Runs a scenario's main with a hard time limit, cleaning up started apps on the way out. */
export function runScenario(name: string, limitMs: number, main: (cleanup: Array<() => Promise<void>>) => Promise<void>): void {
  const cleanup: Array<() => Promise<void>> = [];
  const started = Date.now();
  const timer = setTimeout(() => {
    log(`${name}: over its time limit of ${limitMs / 1000} s, stopping`);
    void runCleanup().then(() => process.exit(2));
  }, limitMs);
  timer.unref();
  // run-all's time limit sends SIGTERM: exit through 'exit', where started apps are killed.
  process.once('SIGTERM', () => process.exit(143));
  const runCleanup = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((e: Error) => log(`cleanup: ${e.message}`));
  };
  main(cleanup)
    .then(async () => {
      await runCleanup();
      log(`${name}: done in ${round((Date.now() - started) / 1000, 1)} s`);
      process.exit(0);
    })
    .catch(async (error: Error) => {
      log(`${name} failed: ${error.stack ?? error.message}`);
      await runCleanup();
      process.exit(1);
    });
}
