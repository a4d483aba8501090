/**
 * Shared plumbing for the benchmark scenarios: a fresh MariaDB database per scenario, the real
 * app as a child process, autocannon driven programmatically, bounded HTTP helpers, the
 * revocation feed's receivers, and the JSON/table output (runScenario's Scenario ties a
 * scenario's databases, apps and output together). Everything targets 127.0.0.1 only.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
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

/** A password login's answer (for a user without a second factor) also names the user. */
export interface LoginResponse extends TokenResponse {
  user: { id: string };
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
export async function login(app: { url: string }, email: string, deviceId?: string): Promise<LoginResponse> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await postJson<LoginResponse>(`${app.url}/auth/login`, { email, password: PASSWORD, ...(deviceId ? { deviceId } : {}) });
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

/** The status of a request with `token` as its Bearer token (the body read and dropped). */
export async function bearerStatus(url: string, token: string, method = 'GET', timeoutMs = 5_000): Promise<number> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.status;
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

/** Registers `${tag}-0@bench.test`, `${tag}-1@bench.test`, … (`count` of them, `concurrency` at a time); returns the addresses. */
export async function registerUsers(app: { url: string }, tag: string, count: number, concurrency = 8): Promise<string[]> {
  const emails = Array.from({ length: count }, (_, i) => `${tag}-${i}@bench.test`);
  await parallel(count, concurrency, (i) => register(app, emails[i]));
  return emails;
}

/**
 * Registers `users` users and opens `perUser` sessions for each via POST /auth/login (distinct
 * device ids, within MAX_SESSIONS_PER_USER). Returns every token response.
 */
export async function seedViaLogin(app: { url: string }, tag: string, users: number, perUser: number, concurrency = 8): Promise<LoginResponse[]> {
  const emails = await registerUsers(app, tag, users, concurrency);
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

/** `count` distinct access tokens for sessions opened via login, signed with the app's current key as the app would sign them. */
export async function mintForSessions(database: string, secrets: Secrets, sessions: LoginResponse[], count: number, issuer?: string): Promise<string[]> {
  return mintAccessTokens(await appSigningKey(database, secrets), sessions, count, issuer);
}

// ---------------------------------------------------------------- resource servers and the revocation feed

export interface ResourceServerCredentials {
  clientId: string;
  clientSecret: string;
}

/** Registers a resource server through the admin API; its credentials. */
export async function addResourceServer(latchkey: { url: string }, adminToken: string, name: string): Promise<ResourceServerCredentials> {
  const r = await postJson<ResourceServerCredentials>(`${latchkey.url}/admin/resource-servers`, { name }, { authorization: `Bearer ${adminToken}` });
  if (r.status !== 201) throw new Error(`adding a resource server: ${r.status}`);
  return r.body;
}

/** The nearest-rank percentile: the smallest value with at least p% of them at or below it. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const latencyStats = (values: number[]) => ({
  n: values.length,
  p50: round(percentile(values, 50), 1),
  p99: round(percentile(values, 99), 1),
  max: round(
    values.reduce((a, b) => Math.max(a, b), 0),
    1,
  ),
});

export interface FeedReceiver {
  close(): void;
  /** Settles once the stream has sent its first event (its position). */
  ready: Promise<void>;
}

/**
 * A raw SSE receiver of latchkey's revocation feed, as `credentials`' resource server, that
 * records when each session of `arrivals` has its event. `refuseNotOk` throws when the feed
 * answers other than 200 (otherwise such a receiver never becomes ready).
 */
export function feedReceiver(
  latchkeyUrl: string,
  credentials: ResourceServerCredentials,
  arrivals: Map<string, number[]>,
  { refuseNotOk = false } = {},
): FeedReceiver {
  const basic = `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`;
  let buffer = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const req = httpRequest(`${latchkeyUrl}/auth/revocations`, { headers: { accept: 'text/event-stream', authorization: basic }, agent: false }, (res) => {
    if (refuseNotOk && res.statusCode !== 200) throw new Error(`a feed receiver got ${res.statusCode}`);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith('id: ')) markReady();
        const data = /^data: (.+)$/m.exec(block);
        // Named events (`event: jwks`, a key change) carry no SET.
        if (!data || /^event: /m.test(block)) continue;
        const sid = JSON.parse(Buffer.from(data[1].split('.')[1], 'base64url').toString()).sub_id.session.id as string;
        arrivals.get(sid)?.push(performance.now());
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { close: () => req.destroy(), ready };
}

/** `count` feed receivers, spread over `servers` in turn, once every one of them is ready. */
export async function openFeedReceivers(
  latchkeyUrl: string,
  servers: ResourceServerCredentials[],
  count: number,
  arrivals: Map<string, number[]>,
  options: { refuseNotOk?: boolean } = {},
): Promise<FeedReceiver[]> {
  const receivers = Array.from({ length: count }, (_, i) => feedReceiver(latchkeyUrl, servers[i % servers.length], arrivals, options));
  await Promise.all(receivers.map((r) => r.ready));
  return receivers;
}

/** Each delivery's latency from its revocation's acknowledgement, and the deliveries that never came (of `receivers` per session). */
export function deliveries(arrivals: Map<string, number[]>, acked: Map<string, number>, receivers: number): { latencies: number[]; missing: number } {
  const latencies: number[] = [];
  let missing = 0;
  for (const [sid, times] of arrivals) {
    missing += Math.max(0, receivers - times.length);
    for (const t of times) latencies.push(t - acked.get(sid)!);
  }
  return { latencies, missing };
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

/** Where a bearerTokens run is in its list: runs that share one carry on from one another. */
export interface TokenCursor {
  next: number;
}

/** An autocannon setupRequest presenting `tokens` in turn, one a request, as Bearer tokens. */
export function bearerTokens(tokens: string[], cursor: TokenCursor = { next: 0 }) {
  return (req: Record<string, unknown>) => ({ ...req, headers: { authorization: `Bearer ${tokens[cursor.next++ % tokens.length]}` } });
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

/** Medians over rounds of runs: of one run's req/s, and of one run's req/s against another's, each ratio taken within its round. */
export function roundMedians<Run extends string>(rounds: Array<Record<Run, LoadSummary>>) {
  return {
    rps: (run: Run) => median(rounds.map((r) => r[run].rps)),
    rpsRatio: (run: Run, against: Run) => round(median(rounds.map((r) => r[run].rps / r[against].rps)), 3),
  };
}

export function writeResult(scenario: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${scenario}.json`);
  writeFileSync(file, JSON.stringify({ scenario, date: new Date().toISOString(), node: process.version, ...data }, null, 2) + '\n');
  log(`wrote ${file}`);
  return file;
}

/**
 * A running scenario (runScenario's): what it sets up is undone when it ends, the last thing
 * first, and what it reports goes out under its name.
 */
export class Scenario {
  /** What to undo when the scenario ends. */
  readonly cleanup: Array<() => Promise<void>> = [];

  constructor(readonly name: string) {}

  /** A database of the scenario's own (dbName of `name`, by default the scenario's): fresh now, dropped when the scenario ends. */
  async database(name = this.name): Promise<string> {
    const database = dbName(name);
    await freshDatabase(database);
    this.cleanup.push(() => dropDatabase(database));
    return database;
  }

  /** startApp, the app stopped when the scenario ends. */
  async startApp(options: StartOptions): Promise<AppProcess> {
    const app = await startApp(options);
    this.cleanup.push(() => app.stop());
    return app;
  }

  table(title: string, rows: Array<Record<string, unknown>>): void {
    printTable(title, rows);
  }

  /** One row a ratio: its value alone, or its value beside its target and direction. */
  ratios(title: string, ratios: Record<string, number | Record<string, unknown>>): void {
    printTable(
      title,
      Object.entries(ratios).map(([ratio, v]) => (typeof v === 'number' ? { ratio, value: v } : { ratio, ...v })),
    );
  }

  /** bench/results/<result>.json, by default the scenario's own. */
  write(data: Record<string, unknown>, result = this.name): string {
    return writeResult(result, data);
  }
}

/** Runs a scenario's main with a hard time limit, cleaning up started apps on the way out. */
export function runScenario(name: string, limitMs: number, main: (scenario: Scenario) => Promise<void>): void {
  const scenario = new Scenario(name);
  const cleanup = scenario.cleanup;
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
  main(scenario)
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
