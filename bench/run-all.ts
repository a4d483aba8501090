/**
 * `npm run bench`: every scenario in turn, each in its own process (which starts the app
 * processes it needs), with a time limit per scenario and for the whole run (35 minutes).
 * Then `npm run bench:report` turns bench/results/*.json into docs/BENCHMARKS.md.
 * Run one scenario alone with: node dist/bench/<scenario>.js, or re-run some within the record
 * of the last full run with: node dist/bench/run-all.js <scenario>… (the report marks them).
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mysql from 'mysql2/promise';
import { MYSQL, RESULTS_DIR, ROOT, log, round, writeResult } from './lib';

const SCENARIOS: Array<{ name: string; file: string; nodeArgs?: string[]; limitS: number }> = [
  { name: 'argon2-hash', file: 'argon2-hash.js', limitS: 60 },
  { name: 'jwt-algorithms', file: 'jwt-algorithms.js', limitS: 60 },
  { name: 'registry-memory', file: 'registry-memory.js', nodeArgs: ['--expose-gc'], limitS: 60 },
  { name: 'verifier-memory', file: 'verifier-memory.js', nodeArgs: ['--expose-gc'], limitS: 60 },
  { name: 'session-row-size', file: 'session-row-size.js', limitS: 120 },
  { name: 'guard', file: 'guard.js', limitS: 300 },
  { name: 'refresh', file: 'refresh.js', limitS: 120 },
  { name: 'dpop', file: 'dpop.js', limitS: 240 },
  { name: 'passkeys', file: 'passkeys.js', limitS: 240 },
  { name: 'logins', file: 'logins.js', limitS: 360 },
  { name: 'mfa', file: 'mfa.js', limitS: 480 },
  { name: 'jwt-alg', file: 'jwt-alg.js', limitS: 540 },
  { name: 'propagation', file: 'propagation.js', limitS: 240 },
  { name: 'resource-servers', file: 'resource-servers.js', limitS: 420 },
  { name: 'mail', file: 'mail.js', limitS: 300 },
  { name: 'galera', file: 'galera.js', limitS: 420 },
  { name: 'scale', file: 'scale.js', limitS: 480 },
  { name: 'deletion', file: 'deletion.js', limitS: 600 },
];
const TOTAL_LIMIT_S = 38 * 60;

function runOne(file: string, nodeArgs: string[], limitS: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist', 'bench', file)], { cwd: ROOT, stdio: 'inherit' });
    const timer = setTimeout(() => {
      log(`${file}: over ${limitS} s, killing it`);
      child.kill('SIGTERM');
    }, limitS * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

/** The database's version and the machine the run had, for the report's "Where and when". */
async function versions(): Promise<Record<string, unknown>> {
  const cpu = cpus();
  const out: Record<string, unknown> = { machine: { cores: cpu.length, memoryGiB: round(totalmem() / 2 ** 30, 1), cpu: cpu[0]?.model ?? 'unknown CPU' } };
  try {
    const conn = await mysql.createConnection(MYSQL);
    const [[row]] = (await conn.query('SELECT VERSION() AS v')) as unknown as [Array<{ v: string }>];
    out.mariadb = row.v;
    await conn.end();
  } catch (error) {
    out.mariadb = `unreachable: ${(error as Error).message}`;
  }
  return out;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const started = Date.now();
  const runs: Array<{ name: string; seconds: number; exitCode: number }> = [];
  for (const s of SCENARIOS) {
    if (only.length && !only.includes(s.name)) continue;
    const left = TOTAL_LIMIT_S - (Date.now() - started) / 1000;
    if (left < 10) {
      log(`skipping ${s.name}: the time budget is spent`);
      runs.push({ name: s.name, seconds: 0, exitCode: -1 });
      continue;
    }
    log(`=== ${s.name}`);
    const t = Date.now();
    const code = await runOne(s.file, s.nodeArgs ?? [], Math.min(s.limitS, left));
    runs.push({ name: s.name, seconds: round((Date.now() - t) / 1000, 1), exitCode: code });
  }
  const totalSeconds = round((Date.now() - started) / 1000, 1);
  const previousFile = join(RESULTS_DIR, 'run.json');
  if (only.length && existsSync(previousFile)) {
    // A partial run keeps the full run's record and says which scenarios were run again, and when.
    const previous = JSON.parse(readFileSync(previousFile, 'utf8')) as { runs: Array<{ name: string }> } & Record<string, unknown>;
    const rerunAt = new Date(started).toISOString();
    const merged = previous.runs.map((r) => ({ ...r, ...(runs.find((x) => x.name === r.name) ? { ...runs.find((x) => x.name === r.name), rerunAt } : {}) }));
    writeResult('run', { ...previous, runs: merged });
  } else {
    writeResult('run', { startedAt: new Date(started).toISOString(), totalSeconds, runs, ...(await versions()) });
  }
  console.table(runs);
  log(`all scenarios in ${totalSeconds} s; now: npm run bench:report`);
  process.exit(runs.some((r) => r.exitCode !== 0) ? 1 : 0);
}

void main();
