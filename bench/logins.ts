/**
 * Scenario 3, logins under load. (a) POST /auth/login at 50 connections against the raw
 * throughput of @node-rs/argon2 verifying with the app's parameters (ARGON2_OPTIONS) at the
 * same concurrency, in this process. (b) The p99 of the protected route GET /auth/session,
 * probed at a fixed rate, alone and while a login flood runs against the same process.
 */
import { hash, verify } from '@node-rs/argon2';
import { ARGON2_OPTIONS } from '../src/users/password.service';
import { CONNECTIONS, DURATION, PASSWORD, WARMUP, dbName, dropDatabase, freshDatabase, generateSecrets, load, log, parallel, printTable, register, login, round, runScenario, startApp, writeResult } from './lib';

const USERS = 50;
const PROBE_RATE = Number(process.env.BENCH_PROBE_RATE ?? 1000);
const PROBE_CONNECTIONS = 10;
/** Experiment knob: the app's libuv pool size, i.e. how many argon2 hashes run at once (default 4). */
const APP_THREADPOOL = process.env.BENCH_LOGIN_APP_THREADPOOL;

async function rawArgon2(concurrency: number, seconds: number): Promise<{ perSecond: number; total: number }> {
  const stored = await hash(PASSWORD, ARGON2_OPTIONS);
  let total = 0;
  const run = async (until: number, count: boolean) =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          if (!(await verify(stored, PASSWORD))) throw new Error('argon2 verify failed');
          if (count) total++;
        }
      }),
    );
  if (WARMUP > 0) await run(Date.now() + WARMUP * 1000, false);
  const started = Date.now();
  await run(started + seconds * 1000, true);
  return { perSecond: round(total / ((Date.now() - started) / 1000), 1), total };
}

runScenario('logins', 4 * 60_000, async (cleanup) => {
  const database = dbName('logins');
  await freshDatabase(database);
  cleanup.push(() => dropDatabase(database));
  const app = await startApp({ name: 'logins-app', database, secrets: generateSecrets(), env: APP_THREADPOOL ? { UV_THREADPOOL_SIZE: APP_THREADPOOL } : {} });
  cleanup.push(() => app.stop());
  const emails = Array.from({ length: USERS }, (_, i) => `login-${i}@bench.test`);
  await parallel(USERS, 8, (i) => register(app, emails[i]));
  const probeTokens = (await parallel(CONNECTIONS, 8, (i) => login(app, emails[i % USERS], `probe-device-${i}`))).map((t) => t.access_token);

  let n = 0;
  const loginRequest = (req: Record<string, unknown>) => ({
    ...req,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"email":"${emails[n++ % USERS]}","password":"${PASSWORD}"}`,
  });
  let p = 0;
  const probeRequest = (req: Record<string, unknown>) => ({ ...req, headers: { authorization: `Bearer ${probeTokens[p++ % probeTokens.length]}` } });

  const logins = await load({ label: 'latchkey POST /auth/login', url: app.url, path: '/auth/login', method: 'POST', setupRequest: loginRequest });
  if (logins.non2xx > 0) log(`warning: ${logins.non2xx} logins were not 200`);
  log('raw @node-rs/argon2 verify, same parameters and concurrency');
  const raw = await rawArgon2(CONNECTIONS, DURATION);
  log(`raw argon2: ${raw.perSecond} verifies/s`);

  const probe = { url: app.url, path: '/auth/session', connections: PROBE_CONNECTIONS, overallRate: PROBE_RATE, setupRequest: probeRequest };
  const quiet = await load({ ...probe, label: `GET /auth/session at ${PROBE_RATE}/s, no login flood` });
  const [busy, flood] = await Promise.all([
    load({ ...probe, label: `GET /auth/session at ${PROBE_RATE}/s, during login flood` }),
    load({ label: 'login flood', url: app.url, path: '/auth/login', method: 'POST', setupRequest: loginRequest }),
  ]);

  const ratios = {
    loginsVsRawArgon2: { value: round(logins.rps / raw.perSecond, 3), target: 0.9, direction: '>=' },
    p99DuringFloodVsQuiet: { value: round(busy.p99 / Math.max(quiet.p99, 1), 2), target: 2, direction: '<=' },
  };
  const table = [
    { run: 'latchkey POST /auth/login', 'per s': logins.rps, 'p50 ms': logins.p50, 'p99 ms': logins.p99 },
    { run: 'raw @node-rs/argon2 verify', 'per s': raw.perSecond, 'p50 ms': '', 'p99 ms': '' },
    { run: `GET /auth/session @${PROBE_RATE}/s alone`, 'per s': quiet.rps, 'p50 ms': quiet.p50, 'p99 ms': quiet.p99 },
    { run: `GET /auth/session @${PROBE_RATE}/s + login flood`, 'per s': busy.rps, 'p50 ms': busy.p50, 'p99 ms': busy.p99 },
    { run: 'login flood (concurrent)', 'per s': flood.rps, 'p50 ms': flood.p50, 'p99 ms': flood.p99 },
  ];
  printTable(`Logins under load (${CONNECTIONS} connections, ${DURATION} s)`, table);
  printTable('Ratios', Object.entries(ratios).map(([k, v]) => ({ ratio: k, ...v })));
  writeResult(APP_THREADPOOL ? `logins-threadpool-${APP_THREADPOOL}` : 'logins', {
    appThreadpool: APP_THREADPOOL ? Number(APP_THREADPOOL) : 'default (4)', connections: CONNECTIONS, durationS: DURATION, argon2: ARGON2_OPTIONS, probeRate: PROBE_RATE, probeConnections: PROBE_CONNECTIONS, logins, raw, quiet, busy, flood, table, ratios });
});
