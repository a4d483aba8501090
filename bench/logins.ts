/**
 * Scenario 3, logins under load. (a) POST /auth/login at 50 connections against the raw
 * throughput of @node-rs/argon2 verifying with the app's parameters (ARGON2_OPTIONS) in this
 * process, at the same concurrency (the whole machine) and with as many hashes in flight as the
 * app has ARGON2_WORKERS (what its workers could do). (b) What else the app serves during a
 * flood: the protected route GET /auth/session, refresh and the admin API's user list, each
 * probed at a fixed rate by users the flood never touches, alone and while floods of 50, 200
 * and 500 login connections run against the same process.
 */
import { hash, verify } from '@node-rs/argon2';
import { ARGON2_OPTIONS } from '../src/users/password.service';
import { DEFAULT_ARGON2_QUEUE, DEFAULT_ARGON2_WORKERS } from '../src/config/config';
import { chainHooks, rotationLoad } from './refresh';
import {
  CONNECTIONS,
  DURATION,
  LoadSummary,
  PASSWORD,
  TokenResponse,
  WARMUP,
  bearerTokens,
  generateSecrets,
  load,
  log,
  login,
  parallel,
  postJson,
  registerUsers,
  round,
  runScenario,
  startApp,
} from './lib';

const USERS = 50;
const PROBE_RATE = Number(process.env.BENCH_PROBE_RATE ?? 1000);
const PROBE_CONNECTIONS = 10;
const REFRESH_PROBE_RATE = 100;
const ADMIN_PROBE_RATE = 50;
const ADMIN = { email: 'logins-admin@bench.test', password: 'logins admin password' };
const FLOOD_CONNECTIONS = [50, 200, 500];
const QUEUE_SWEEP = (process.env.BENCH_QUEUE_SWEEP ?? '4,32,128').split(',').map(Number);

/** One flood's figures: accepted logins/s, shed/s, and the probe's latency against the quiet run. */
function floodRow(connections: number, attack: LoadSummary, during: Probes, quiet: Probes) {
  const seconds = attack.durationS;
  const vsQuiet = (k: keyof Probes) => round(during[k].p99 / Math.max(quiet[k].p99, 1), 2);
  return {
    connections,
    'logins/s': round((attack.statuses['200'] ?? 0) / seconds, 1),
    'shed/s': round((attack.statuses['503'] ?? 0) / seconds, 1),
    'login p99 ms': attack.p99,
    'probe p50 ms': during.guard.p50,
    'probe p99 ms': during.guard.p99,
    'p99 / quiet': vsQuiet('guard'),
    'refresh p99 ms': during.refresh.p99,
    'refresh p99 / quiet': vsQuiet('refresh'),
    'admin p99 ms': during.admin.p99,
    'admin p99 / quiet': vsQuiet('admin'),
    'probe answers not 2xx': during.guard.non2xx + during.refresh.non2xx + during.admin.non2xx,
  };
}

interface Probes {
  guard: LoadSummary;
  refresh: LoadSummary;
  admin: LoadSummary;
}
/** Experiment knob: the app's libuv pool size (default 4). */
const APP_THREADPOOL = process.env.BENCH_LOGIN_APP_THREADPOOL;
/** Experiment knob: the app's ARGON2_WORKERS (default: the app's own default). */
const WORKERS = process.env.BENCH_ARGON2_WORKERS;
const appEnv: Record<string, string> = { ...(APP_THREADPOOL ? { UV_THREADPOOL_SIZE: APP_THREADPOOL } : {}), ...(WORKERS ? { ARGON2_WORKERS: WORKERS } : {}) };

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

runScenario('logins', 6 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const adminEnv = { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password };
  const app = await scenario.startApp({ name: 'logins-app', database, secrets, env: { ...appEnv, ...adminEnv } });
  const emails = await registerUsers(app, 'login', USERS);
  // The probes' own users, whom no flood login touches (so no session limit evicts them).
  const probeEmails = await registerUsers(app, 'login-probe', 10);
  const probeTokens = (await parallel(CONNECTIONS, 8, (i) => login(app, probeEmails[i % probeEmails.length], `probe-device-${i}`))).map((t) => t.access_token);
  // Fresh refresh chains for each probe run, opened before its flood starts: a chain whose last
  // request was cut off when a run ended is in an unknown state. A chain is busy for a whole
  // round trip, so at 100 refreshes/s and a flood's half-second latencies 50 are in flight at
  // once: 100 chains, on users of their own so the session limit never reaches the probes' tokens.
  const chainEmails = await registerUsers(app, 'login-chain', 50);
  let phase = 0;
  const freshChains = async (url: string) => {
    phase++;
    return chainHooks(
      (await parallel(100, 4, (i) => login({ url }, chainEmails[i % chainEmails.length], `probe-chain-${phase}-${i}`))).map((t) => t.refresh_token),
    );
  };
  const adminToken = (await postJson<TokenResponse>(`${app.url}/auth/login`, ADMIN)).body.access_token;

  let n = 0;
  const loginRequest = (req: Record<string, unknown>) => ({
    ...req,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"email":"${emails[n++ % USERS]}","password":"${PASSWORD}"}`,
  });
  const probeRequest = bearerTokens(probeTokens);

  const logins = await load({ label: 'latchkey POST /auth/login', url: app.url, path: '/auth/login', method: 'POST', setupRequest: loginRequest });
  if (logins.non2xx > 0) log(`warning: ${logins.non2xx} logins were not 200`);
  log('raw @node-rs/argon2 verify, same parameters and concurrency');
  const raw = await rawArgon2(CONNECTIONS, DURATION);
  const workers = WORKERS ? Number(WORKERS) : DEFAULT_ARGON2_WORKERS;
  const rawAtWorkers = await rawArgon2(workers, DURATION);
  log(`raw argon2: ${raw.perSecond} verifies/s on the whole machine, ${rawAtWorkers.perSecond} with ${workers} in flight`);

  // Guard, refresh and admin probes at fixed rates, together.
  const probes = async (url: string, label: string, refreshChains: Awaited<ReturnType<typeof freshChains>>): Promise<Probes> => {
    const [guard, refresh, admin] = await Promise.all([
      load({
        label: `GET /auth/session at ${PROBE_RATE}/s, ${label}`,
        url,
        path: '/auth/session',
        connections: PROBE_CONNECTIONS,
        overallRate: PROBE_RATE,
        setupRequest: probeRequest,
      }),
      rotationLoad(`POST /auth/token at ${REFRESH_PROBE_RATE}/s, ${label}`, url, refreshChains, {
        connections: PROBE_CONNECTIONS,
        overallRate: REFRESH_PROBE_RATE,
      }),
      load({
        label: `GET /admin/users at ${ADMIN_PROBE_RATE}/s, ${label}`,
        url,
        path: '/admin/users?limit=20',
        connections: 2,
        overallRate: ADMIN_PROBE_RATE,
        headers: { authorization: `Bearer ${adminToken}` },
      }),
    ]);
    for (const run of [guard, refresh, admin])
      if (run.non2xx) log(`warning: ${run.label}: ${run.non2xx} answers were not 2xx (${JSON.stringify(run.statuses)})`);
    return { guard, refresh, admin };
  };
  const quietProbes = await probes(app.url, 'no login flood', await freshChains(app.url));
  const quiet = quietProbes.guard;
  const busyChains = await freshChains(app.url);
  const [busyProbes, flood] = await Promise.all([
    probes(app.url, 'during login flood', busyChains),
    load({ label: 'login flood', url: app.url, path: '/auth/login', method: 'POST', setupRequest: loginRequest }),
  ]);
  const busy = busyProbes.guard;

  // Floods of 50, 200 and 500 login connections against the default ARGON2_WORKERS/ARGON2_QUEUE:
  // logins/s, shed/s (503 before hashing) and the protected route's p50/p99 meanwhile.
  const floods = [];
  for (const connections of FLOOD_CONNECTIONS) {
    const chains = await freshChains(app.url);
    const [during, attack] = await Promise.all([
      probes(app.url, `during a ${connections}-connection login flood`, chains),
      load({ label: `login flood, ${connections} connections`, url: app.url, path: '/auth/login', method: 'POST', connections, setupRequest: loginRequest }),
    ]);
    floods.push(floodRow(connections, attack, during, quietProbes));
  }
  await app.stop();

  // The queue length: the same 200-connection flood against instances with other ARGON2_QUEUE values.
  const queues = [];
  for (const queue of QUEUE_SWEEP) {
    const other = await startApp({ name: `logins-queue-${queue}`, database, secrets, env: { ...appEnv, ...adminEnv, ARGON2_QUEUE: String(queue) } });
    const chains = await freshChains(other.url);
    const [during, attack] = await Promise.all([
      probes(other.url, `ARGON2_QUEUE=${queue}`, chains),
      load({ label: `login flood, ARGON2_QUEUE=${queue}`, url: other.url, path: '/auth/login', method: 'POST', connections: 200, setupRequest: loginRequest }),
    ]);
    await other.stop();
    queues.push({ queue, ...floodRow(200, attack, during, quietProbes) });
  }

  const ratios = {
    loginsVsRawArgon2: { value: round(logins.rps / raw.perSecond, 3), target: 0.9, direction: '>=' },
    loginsVsRawArgon2AtWorkers: { value: round(logins.rps / rawAtWorkers.perSecond, 3), target: 0.9, direction: '>=' },
    p99DuringFloodVsQuiet: { value: round(busy.p99 / Math.max(quiet.p99, 1), 2), target: 2, direction: '<=' },
  };
  const table = [
    { run: 'latchkey POST /auth/login', 'per s': logins.rps, 'p50 ms': logins.p50, 'p99 ms': logins.p99 },
    { run: 'raw @node-rs/argon2 verify, whole machine', 'per s': raw.perSecond, 'p50 ms': '', 'p99 ms': '' },
    { run: `raw @node-rs/argon2 verify, ${workers} in flight (= ARGON2_WORKERS)`, 'per s': rawAtWorkers.perSecond, 'p50 ms': '', 'p99 ms': '' },
    { run: `GET /auth/session @${PROBE_RATE}/s alone`, 'per s': quiet.rps, 'p50 ms': quiet.p50, 'p99 ms': quiet.p99 },
    { run: `GET /auth/session @${PROBE_RATE}/s + login flood`, 'per s': busy.rps, 'p50 ms': busy.p50, 'p99 ms': busy.p99 },
    { run: 'login flood (concurrent)', 'per s': flood.rps, 'p50 ms': flood.p50, 'p99 ms': flood.p99 },
  ];
  scenario.table(`Logins under load (${CONNECTIONS} connections, ${DURATION} s)`, table);
  scenario.table('Login floods (default ARGON2_WORKERS/ARGON2_QUEUE): logins, shed, and the protected route meanwhile', floods);
  scenario.table('The queue length at a 200-connection flood', queues);
  scenario.ratios('Ratios', ratios);
  scenario.write(
    {
      appThreadpool: APP_THREADPOOL ? Number(APP_THREADPOOL) : 'default (4)',
      connections: CONNECTIONS,
      durationS: DURATION,
      argon2: ARGON2_OPTIONS,
      probeRate: PROBE_RATE,
      probeConnections: PROBE_CONNECTIONS,
      logins,
      raw,
      rawAtWorkers,
      quiet,
      busy,
      quietProbes,
      busyProbes,
      flood,
      table,
      ratios,
      floods,
      queues,
      defaults: { workers, queue: DEFAULT_ARGON2_QUEUE },
    },
    APP_THREADPOOL ? `logins-threadpool-${APP_THREADPOOL}` : WORKERS ? `logins-workers-${WORKERS}` : 'logins',
  );
});
