/**
 * Scenario 1, guard overhead. One latchkey process; autocannon against GET /health (open) and
 * GET /auth/session (protected, handler does no I/O), with (a) a small set of tokens reused over
 * and over and (b) a fresh token on every request: a pool of distinct access tokens, each
 * presented once, for sessions opened via login and signed beforehand with the app's own current
 * signing key (decrypted from signing_keys with KEY_ENCRYPTION_KEY, as the app does), so no
 * request of that run can be a cache hit. (Minting that many through POST /auth/token would
 * take minutes; the tokens are byte-for-byte what the app would issue.) Then the usual stack (bench/baseline: NestJS
 * on Express, passport-jwt, HS256 with a string secret) on the same two routes.
 * A second instance with METRICS_PORT set runs the reused-token load too: the counters' cost.
 * Ratios are taken within each round; rounds alternate the runs back to back.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as jwt from 'jsonwebtoken';
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
  mintForSessions,
  round,
  roundMedians,
  runScenario,
  seedViaLogin,
} from './lib';

const ROUNDS = Number(process.env.BENCH_GUARD_ROUNDS ?? 2);
const POOL = Number(process.env.BENCH_TOKEN_POOL ?? 180_000);
const USERS = 20;
const PER_USER = 25;

runScenario('guard', 6 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const app = await scenario.startApp({ name: 'guard-app', database, secrets });
  // The same app with METRICS_PORT set (same database and keys, so the same tokens work): the
  // counters must cost the guard nothing visible (issue 11).
  const metricsPort = freePort();
  const metered = await scenario.startApp({
    name: 'guard-app-metrics',
    database,
    secrets,
    env: { METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' },
  });
  const baselineSecret = randomBytes(32).toString('hex');
  const baseline = await scenario.startApp({
    name: 'guard-baseline',
    database,
    secrets,
    script: join(ROOT, 'dist', 'bench', 'baseline', 'main.js'),
    env: { BASELINE_JWT_SECRET: baselineSecret },
  });

  log(`seeding ${USERS * PER_USER} sessions via login`);
  const sessions = await seedViaLogin(app, 'guard', USERS, PER_USER);
  const reused = sessions.slice(0, CONNECTIONS).map((s) => s.access_token);

  log(`minting ${POOL} distinct access tokens with the app's signing key`);
  const started = Date.now();
  const pool = await mintForSessions(database, secrets, sessions, POOL);
  log(`pool of ${pool.length} tokens in ${round((Date.now() - started) / 1000, 1)} s`);
  const check = await fetch(`${app.url}/auth/session`, { headers: { authorization: `Bearer ${pool[0]}` } });
  if (check.status !== 200) throw new Error(`a minted token is refused: ${check.status} ${await check.text()}`);
  let next = 1;
  let repeats = 0;
  const fresh = (req: Record<string, unknown>) => {
    if (next >= pool.length) repeats++;
    return { ...req, headers: { authorization: `Bearer ${pool[next++ % pool.length]}` } };
  };

  const baselineTokens = sessions.slice(0, CONNECTIONS).map((s, i) =>
    jwt.sign({ sid: s.session_id, role: 'user' }, baselineSecret, {
      algorithm: 'HS256',
      expiresIn: 900,
      issuer: 'http://localhost:3000',
      audience: 'latchkey',
      subject: `user-${i}`,
    }),
  );

  const rounds: Array<Record<string, LoadSummary>> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const health = await load({ label: `r${r + 1} latchkey GET /health`, url: app.url, path: '/health' });
    const protectedReused = await load({
      label: `r${r + 1} latchkey GET /auth/session, tokens reused`,
      url: app.url,
      path: '/auth/session',
      setupRequest: bearerTokens(reused),
    });
    const protectedFresh = await load({
      label: `r${r + 1} latchkey GET /auth/session, fresh token each request`,
      url: app.url,
      path: '/auth/session',
      setupRequest: fresh,
    });
    const meteredReused = await load({
      label: `r${r + 1} latchkey with METRICS_PORT GET /auth/session, tokens reused`,
      url: metered.url,
      path: '/auth/session',
      setupRequest: bearerTokens(reused),
    });
    const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    if (scrape.status !== 200 || !(await scrape.text()).includes('latchkey_')) throw new Error('the metered app serves no latchkey metrics');
    const baselineHealth = await load({ label: `r${r + 1} baseline (Express) GET /health`, url: baseline.url, path: '/health' });
    const baselineProtected = await load({
      label: `r${r + 1} baseline (Express, passport-jwt HS256 string secret) GET /auth/session`,
      url: baseline.url,
      path: '/auth/session',
      setupRequest: bearerTokens(baselineTokens),
    });
    for (const s of [protectedReused, protectedFresh, meteredReused, baselineProtected])
      if (s.non2xx > 0) throw new Error(`${s.label}: ${s.non2xx} non-2xx responses; the tokens are not accepted`);
    rounds.push({ health, protectedReused, protectedFresh, meteredReused, baselineHealth, baselineProtected });
  }

  if (repeats) log(`warning: the pool ran out; ${repeats} requests repeated a token (BENCH_TOKEN_POOL)`);
  const { rps: med, rpsRatio: ratioMed } = roundMedians(rounds);
  const ratios = {
    reusedVsHealth: { value: ratioMed('protectedReused', 'health'), target: 0.8, direction: '>=' },
    freshVsHealth: { value: ratioMed('protectedFresh', 'health'), target: 0.35, direction: '>=' },
    reusedVsUsualStack: { value: ratioMed('protectedReused', 'baselineProtected'), target: 5, direction: '>=' },
    freshVsUsualStack: { value: ratioMed('protectedFresh', 'baselineProtected'), target: 5, direction: '>=' },
    reusedMetricsOnVsOff: { value: ratioMed('meteredReused', 'protectedReused'), target: 0.95, direction: '>=' },
  };
  const table = [
    { run: 'latchkey GET /health', 'req/s (median)': med('health') },
    { run: 'latchkey GET /auth/session, tokens reused', 'req/s (median)': med('protectedReused') },
    { run: 'latchkey GET /auth/session, fresh token', 'req/s (median)': med('protectedFresh') },
    { run: 'latchkey with METRICS_PORT GET /auth/session, tokens reused', 'req/s (median)': med('meteredReused') },
    { run: 'usual stack GET /health', 'req/s (median)': med('baselineHealth') },
    { run: 'usual stack GET /auth/session', 'req/s (median)': med('baselineProtected') },
  ];
  scenario.table(`Guard overhead (${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} rounds, token pool ${pool.length})`, table);
  scenario.ratios('Ratios', ratios);
  scenario.write({
    connections: CONNECTIONS,
    durationS: DURATION,
    rounds: ROUNDS,
    tokenPool: pool.length,
    tokensUsed: next,
    repeats,
    medians: table,
    ratios,
    runs: rounds,
    appRssMb: app.rssMb(),
  });
});
