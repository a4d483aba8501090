/**
 * Tracing's cost on the guard (issue 23). Three servers on one database and the same keys, so the
 * same tokens work on all three:
 *   - before: the code before tracing existed (BENCH_TRACING_BASE, default the merge base of HEAD
 *     and main, or HEAD~ when HEAD is main), checked out with `git worktree` into a temporary
 *     directory and built there, node_modules shared;
 *   - off: this build, no OTEL_* variable (the shipped default);
 *   - on: this build exporting every span (OTLP/HTTP protobuf) to a sink in this process, which
 *     answers 200 and keeps nothing.
 * GET /auth/session with reused tokens (the guard, no I/O), the three runs back to back in each
 * round, their order rotated from round to round; the ratios are per round, then the median.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONNECTIONS,
  DURATION,
  LoadSummary,
  ROOT,
  bearerTokens,
  freePort,
  generateSecrets,
  load,
  log,
  median,
  round,
  roundMedians,
  runScenario,
  seedViaLogin,
} from './lib';

const ROUNDS = Number(process.env.BENCH_TRACING_ROUNDS ?? 3);

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();

/** The commit before tracing: where this branch left main (or the parent, on main itself). */
function baseCommit(): string {
  if (process.env.BENCH_TRACING_BASE) return git('rev-parse', process.env.BENCH_TRACING_BASE);
  const head = git('rev-parse', 'HEAD');
  const mergeBase = git('merge-base', 'HEAD', 'main');
  return mergeBase === head ? git('rev-parse', 'HEAD~') : mergeBase;
}

/** A built checkout of `commit` in the temporary directory (kept between runs: built once per commit). */
function buildBase(commit: string): string {
  const dir = join(tmpdir(), `latchkey-bench-base-${commit.slice(0, 12)}`);
  if (!existsSync(join(dir, 'dist', 'src', 'main.js'))) {
    if (!existsSync(dir)) git('worktree', 'add', '--detach', dir, commit);
    if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    log(`building ${commit.slice(0, 12)} in ${dir}`);
    execFileSync(process.execPath, [join(dir, 'scripts', 'build-if-needed.mjs'), '--force'], { cwd: dir, stdio: 'inherit' });
  }
  return dir;
}

runScenario('tracing', 10 * 60_000, async (scenario) => {
  const commit = baseCommit();
  const baseDir = buildBase(commit);

  let exported = 0;
  let exportedBytes = 0;
  const sink = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (exportedBytes += chunk.length));
    request.on('end', () => {
      exported++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  const sinkPort = freePort();
  await new Promise<void>((resolve) => sink.listen(sinkPort, '127.0.0.1', resolve));
  scenario.cleanup.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));

  const database = await scenario.database();
  const secrets = generateSecrets();
  const before = await scenario.startApp({ name: 'tracing-before', database, secrets, script: join(baseDir, 'dist', 'src', 'main.js') });
  const off = await scenario.startApp({ name: 'tracing-off', database, secrets });
  const on = await scenario.startApp({ name: 'tracing-on', database, secrets, env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}` } });

  const sessions = await seedViaLogin(off, 'tracing', 10, 5);
  const cycling = bearerTokens(sessions.slice(0, CONNECTIONS).map((s) => s.access_token));

  const apps = { before, off, on } as const;
  const order: Array<keyof typeof apps> = ['before', 'off', 'on'];
  const rounds: Array<Record<keyof typeof apps, LoadSummary>> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const results = {} as Record<keyof typeof apps, LoadSummary>;
    for (let k = 0; k < order.length; k++) {
      const which = order[(k + r) % order.length];
      results[which] = await load({
        label: `r${r + 1} ${which} GET /auth/session, tokens reused`,
        url: apps[which].url,
        path: '/auth/session',
        setupRequest: cycling,
      });
      if (results[which].non2xx > 0) throw new Error(`${which}: ${results[which].non2xx} non-2xx answers`);
    }
    rounds.push(results);
  }
  if (exported === 0) throw new Error('the traced instance exported nothing');

  const { rps: med, rpsRatio: ratio } = roundMedians(rounds);
  const ratios = {
    offVsBefore: { value: ratio('off', 'before'), target: 0.98, direction: '>=' },
    onVsOff: { value: ratio('on', 'off'), target: null, direction: 'report' },
  };
  const table = [
    { run: `before tracing (${commit.slice(0, 12)})`, 'req/s (median)': med('before'), 'p99 ms (median)': median(rounds.map((r) => r.before.p99)) },
    { run: 'tracing off (no OTEL_* variable)', 'req/s (median)': med('off'), 'p99 ms (median)': median(rounds.map((r) => r.off.p99)) },
    { run: 'tracing on (OTLP/HTTP to a local sink)', 'req/s (median)': med('on'), 'p99 ms (median)': median(rounds.map((r) => r.on.p99)) },
  ];
  scenario.table(`Guard with tracing (GET /auth/session, tokens reused, ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} rounds)`, table);
  scenario.ratios('Ratios (per round, median)', ratios);
  log(`the traced instance made ${exported} exports, ${round(exportedBytes / 1024 / 1024, 1)} MiB`);
  scenario.write({
    base: commit,
    connections: CONNECTIONS,
    durationS: DURATION,
    rounds: ROUNDS,
    medians: table,
    ratios,
    runs: rounds,
    exports: exported,
    exportedBytes,
  });
});
