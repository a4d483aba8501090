/**
 * Issue 21: GET /me/export of a user with 100,000 audit rows, time and the server's peak memory.
 * Two users are seeded straight into the database (multi-row INSERTs, or one prepared statement
 * in a transaction on SQLite, with the app stopped): one with 1,000 events, one with 100,000, as
 * a login writes them (a real browser user agent, an address, the device id in details). Then one
 * app process serves, in this order: idle, the 1,000-row export, the 100,000-row export, and
 * both again (BENCH_EXPORT_ROUNDS, default 2). Before each export the process's peak RSS is
 * reset (`echo 5 > /proc/<pid>/clear_refs`), and VmHWM read after it is the export's own peak;
 * VmRSS is also sampled every 10 ms as a cross-check. The client streams the answer and counts
 * bytes, then parses it once to check that every row came. Ratios are taken within one run:
 * peak RSS of the large export against idle and against the small export.
 * BENCH_EXPORT_DB=mysql, sqlite or both (default).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { sqliteFiles } from '../src/config/config';
import { uuidv7 } from '../src/common/ids';
import { AppProcess, Scenario, Secrets, connect, dbName, generateSecrets, log, login, median, register, round, runScenario, sleep, startApp } from './lib';

const LARGE = Number(process.env.BENCH_EXPORT_ROWS ?? 100_000);
const SMALL = 1_000;
const ROUNDS = Number(process.env.BENCH_EXPORT_ROUNDS ?? 2);
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

type Kind = 'mysql' | 'sqlite';

/** Rows as the app's login writes them: a session, an address, a browser, the device id in details. */
function* eventRows(userId: string, count: number): Generator<unknown[]> {
  const start = Date.now() - count * 1000;
  for (let i = 0; i < count; i++) {
    const at = start + i * 1000;
    yield [uuidv7(at), 'login_succeeded', userId, uuidv7(at), null, `198.51.100.${i % 250}`, UA, JSON.stringify({ deviceId: randomUUID() }), at];
  }
}

const INSERT = 'INSERT INTO audit_events (id, type, user_id, session_id, actor_id, ip, user_agent, details, created_at) VALUES ';

async function seedMysql(database: string, users: Array<[string, number]>): Promise<void> {
  const conn = await connect(database);
  try {
    for (const [userId, count] of users) {
      let batch: unknown[][] = [];
      const flush = async () => {
        if (!batch.length) return;
        await conn.query(INSERT + batch.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', '), batch.flat());
        batch = [];
      };
      for (const row of eventRows(userId, count)) {
        batch.push(row);
        if (batch.length === 2_000) await flush();
      }
      await flush();
    }
  } finally {
    await conn.end();
  }
}

function seedSqlite(file: string, users: Array<[string, number]>): void {
  const Database = require('better-sqlite3');
  const db = new Database(file);
  try {
    const insert = db.prepare(INSERT + '(?, ?, ?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (const [userId, count] of users) for (const row of eventRows(userId, count)) insert.run(...row);
    })();
  } finally {
    db.close();
  }
}

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

const mb = (kb: number) => round(kb / 1024, 1);

type ExportRun = {
  rows: number;
  ms: number;
  bytes: number;
  peakRssMb: number;
  sampledPeakRssMb: number;
  rssBeforeMb: number;
  /** Peak minus the RSS just before: what this export added. */
  growthMb: number;
};

/** One export, streamed and counted; the server's peak RSS over it. */
async function exportOnce(app: AppProcess, token: string, expectRows: number): Promise<ExportRun> {
  await sleep(500); // let the previous request's garbage settle
  const rssBefore = procStatusKb(app.pid, 'VmRSS');
  resetPeak(app.pid);
  let sampled = rssBefore;
  const sampler = setInterval(() => (sampled = Math.max(sampled, procStatusKb(app.pid, 'VmRSS'))), 10);
  const t0 = performance.now();
  const res = await fetch(`${app.url}/me/export`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`export: ${res.status} ${await res.text()}`);
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    chunks.push(Buffer.from(chunk));
  }
  const ms = performance.now() - t0;
  clearInterval(sampler);
  const peak = procStatusKb(app.pid, 'VmHWM');
  const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const seeded = doc.auditEvents.filter((e: { type: string }) => e.type === 'login_succeeded').length;
  // The seeded rows, plus the bench's two sign-ins (setup, measured).
  if (seeded !== expectRows + 2) throw new Error(`export held ${seeded} login events, expected ${expectRows + 2}`);
  return {
    rows: doc.auditEvents.length,
    ms: round(ms, 0),
    bytes,
    peakRssMb: mb(peak),
    sampledPeakRssMb: mb(sampled),
    rssBeforeMb: mb(rssBefore),
    growthMb: mb(peak - rssBefore),
  };
}

async function runOn(kind: Kind, scenario: Scenario): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-bench-export-'));
  scenario.cleanup.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  // On SQLite the name only reaches appEnv's DATABASE_URL, which env below clears.
  const database = kind === 'mysql' ? await scenario.database(`export_${kind}`) : dbName(`export_${kind}`);
  const secrets: Secrets = generateSecrets();
  const env: Record<string, string> = { EXPORT_RATE_LIMIT: 'off', DATA_DIR: dataDir, ...(kind === 'sqlite' ? { DATABASE_URL: '' } : {}) };
  const start = (name: string) => startApp({ name: `export-${kind}-${name}`, database, secrets, env });

  // Users made through the API (so the schema and rows are the app's own), events seeded with the app stopped.
  let app = await start('setup');
  const small = `export-small-${kind}@bench.test`;
  const large = `export-large-${kind}@bench.test`;
  await register(app, small);
  await register(app, large);
  const ids = await Promise.all([small, large].map(async (email) => (await login(app, email)).user.id));
  await app.stop();
  const t0 = performance.now();
  const users: Array<[string, number]> = [
    [ids[0], SMALL],
    [ids[1], LARGE],
  ];
  if (kind === 'mysql') await seedMysql(database, users);
  else seedSqlite(sqliteFiles(dataDir)[0], users);
  const seedSeconds = round((performance.now() - t0) / 1000, 1);
  log(`${kind}: seeded ${SMALL + LARGE} audit rows in ${seedSeconds} s`);

  app = await start('measured');
  scenario.cleanup.push(() => app.stop());
  const smallToken = (await login(app, small)).access_token;
  const largeToken = (await login(app, large)).access_token;
  // Warm: the routes, the JIT, the pool; then idle.
  for (let i = 0; i < 20; i++) await fetch(`${app.url}/me`, { headers: { authorization: `Bearer ${smallToken}` } });
  await sleep(2_000);
  const idleRssMb = mb(procStatusKb(app.pid, 'VmRSS'));
  const runs: Array<ExportRun & { user: string }> = [];
  for (let round_ = 0; round_ < ROUNDS; round_++) {
    runs.push({ user: `${SMALL} rows`, ...(await exportOnce(app, smallToken, SMALL)) });
    runs.push({ user: `${LARGE} rows`, ...(await exportOnce(app, largeToken, LARGE)) });
  }
  scenario.table(`GET /me/export on ${kind} (idle VmRSS ${idleRssMb} MiB)`, runs);
  const of = (rows: number, key: 'ms' | 'peakRssMb' | 'bytes' | 'growthMb') =>
    round(median(runs.filter((r) => r.user === `${rows} rows`).map((r) => r[key])), 1);
  // The first round alone: the large export starts from the heap the idle process had.
  const firstLarge = runs[1];
  const summary = {
    database: kind,
    seedSeconds,
    idleRssMb,
    smallMs: of(SMALL, 'ms'),
    largeMs: of(LARGE, 'ms'),
    smallPeakRssMb: of(SMALL, 'peakRssMb'),
    largePeakRssMb: of(LARGE, 'peakRssMb'),
    largeBytes: of(LARGE, 'bytes'),
    smallGrowthMb: of(SMALL, 'growthMb'),
    largeGrowthMb: of(LARGE, 'growthMb'),
    firstLargePeakRssMb: firstLarge.peakRssMb,
    firstLargeGrowthMb: firstLarge.growthMb,
    largeRowsPerSecond: round(LARGE / (of(LARGE, 'ms') / 1000), 0),
    largeMiBPerSecond: round(of(LARGE, 'bytes') / 1048576 / (of(LARGE, 'ms') / 1000), 1),
    peakRatioLargeToIdle: round(of(LARGE, 'peakRssMb') / idleRssMb, 2),
    peakRatioLargeToSmall: round(of(LARGE, 'peakRssMb') / of(SMALL, 'peakRssMb'), 2),
    timeRatioLargeToSmall: round(of(LARGE, 'ms') / of(SMALL, 'ms'), 1),
  };
  scenario.table(`summary (${kind})`, [summary]);
  await app.stop();
  return { ...summary, runs };
}

runScenario('export', 10 * 60_000, async (scenario) => {
  if (!existsSync('/proc/self/clear_refs')) throw new Error('needs Linux /proc (clear_refs, VmHWM)');
  const which = (process.env.BENCH_EXPORT_DB ?? 'both') as Kind | 'both';
  const kinds: Kind[] = which === 'both' ? ['sqlite', 'mysql'] : [which];
  const results: Record<string, unknown>[] = [];
  for (const kind of kinds) results.push(await runOn(kind, scenario));
  // Another history length is a side experiment: its own file, the main result kept.
  scenario.write({ largeRows: LARGE, smallRows: SMALL, rounds: ROUNDS, results }, LARGE === 100_000 ? 'export' : `export-${LARGE}`);
});
