/**
 * Issue 19, finding 2: open streams are bounded. One latchkey process on MariaDB, started with
 * an open-file limit of 1,024 (prlimit), as in the review.
 *
 * 1. One user opens 2,000 session event streams (GET /auth/session/events) over 50 of their
 *    sessions: how many are let in, how many get 429 (with Retry-After); then, with those still
 *    open, GET /health under load against the same load before any stream (p99 ratio), and an
 *    admin sign-in.
 * 2. 600 sessions of 150 users open 4 streams each (2,400, every user under its own cap): the
 *    total is held at half the open-file limit (503 past it), /health p99 against idle again.
 * 3. The feed under load, as in resource-servers.ts: 200 SSE receivers (20 for each of 10
 *    resource servers) while 100 sessions a second are revoked for 10 s; delivery latency
 *    (revocation acknowledged → event received) over every receiver and event.
 */
import { request as httpRequest, ClientRequest } from 'node:http';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  AppProcess,
  LoadSummary,
  TokenResponse,
  addResourceServer,
  bearerStatus,
  deliveries,
  generateSecrets,
  latencyStats,
  load,
  log,
  median,
  openFeedReceivers,
  parallel,
  postJson,
  round,
  runScenario,
  seedViaLogin,
  sleep,
} from './lib';

const OPEN_FILES = 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ATTEMPTS = Number(process.env.BENCH_STREAMS ?? 2000);
const RECEIVERS = Number(process.env.BENCH_FEED_RECEIVERS ?? 200);
const SERVERS = Number(process.env.BENCH_FEED_SERVERS ?? 10);
const RATE = Number(process.env.BENCH_FEED_RATE ?? 100);
const FEED_SECONDS = Number(process.env.BENCH_FEED_SECONDS ?? 10);
/** `caps`, `feed` or both (the default). */
const PARTS = new Set((process.env.BENCH_STREAMS_PARTS ?? 'caps,feed').split(','));
const ADMIN = { email: 'bench-admin@bench.test', password: 'bench admin password' };

interface Attempt {
  status: number;
  retryAfter?: string;
  request: ClientRequest;
}

/** Opens one stream and resolves with its status once the head arrives (or the connection fails: 0). */
function attempt(url: string, headers: Record<string, string>): Promise<Attempt> {
  return new Promise((resolve) => {
    const request = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      request.setTimeout(0);
      res.resume();
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], request });
    });
    request.on('error', () => resolve({ status: 0, request }));
    request.setTimeout(15_000, () => request.destroy());
    request.end();
  });
}

function tally(attempts: Attempt[]) {
  const byStatus: Record<string, number> = {};
  for (const a of attempts) byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
  const refused = attempts.filter((a) => a.status === 429 || a.status === 503);
  return { byStatus, refusedWithRetryAfter: refused.filter((a) => /^\d+$/.test(a.retryAfter ?? '')).length, refused: refused.length };
}

const health = (latchkey: AppProcess, label: string) => load({ label, url: latchkey.url, path: '/health' });

async function adminSignIn(latchkey: AppProcess): Promise<number> {
  return (await postJson(`${latchkey.url}/auth/login`, ADMIN)).status;
}

/** Revokes at RATE a second; returns when each was acknowledged (a logout the app refused, e.g. 503 on an overloaded database, is left out and counted). */
async function revokeAtRate(latchkey: AppProcess, sessions: TokenResponse[]): Promise<{ acked: Map<string, number>; refused: number }> {
  const acked = new Map<string, number>();
  let refused = 0;
  const started = performance.now();
  await Promise.all(
    sessions.map(async (s, i) => {
      const wait = started + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      const code = await bearerStatus(`${latchkey.url}/auth/logout`, s.access_token, 'POST', 15_000).catch(() => 0);
      if (code === 204) acked.set(s.session_id, performance.now());
      else refused++;
    }),
  );
  return { acked, refused };
}

runScenario('streams', 600_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const latchkey = await scenario.startApp({
    name: 'latchkey',
    database,
    secrets,
    openFiles: OPEN_FILES,
    env: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, MAX_SESSIONS_PER_USER: '1000' },
  });
  const admin = (await postJson<TokenResponse>(`${latchkey.url}/auth/login`, ADMIN)).body;

  let caps: Array<Record<string, unknown>> = [];
  let capsDetail: Record<string, unknown> = {};
  if (PARTS.has('caps')) {
    // ---- 1. one user, 2,000 streams
    const own = await seedViaLogin(latchkey, 'one-user', 1, 50);
    // Rounds of idle, then the flood and the same load with its streams open, then closed again:
    // the machine is shared, so the ratio is the median of back-to-back pairs.
    const rounds: Array<{ idle: LoadSummary; held: LoadSummary; admin: number }> = [];
    let oneUser: Attempt[] = [];
    let oneUserTally = tally([]);
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      const idleRound = await health(latchkey, 'GET /health, no stream open');
      const started = performance.now();
      oneUser = await parallel(ATTEMPTS, 200, (i) =>
        attempt(`${latchkey.url}/auth/session/events`, { authorization: `Bearer ${own[i % own.length].access_token}` }),
      );
      oneUserTally = tally(oneUser);
      log(`one user, ${ATTEMPTS} streams: ${JSON.stringify(oneUserTally.byStatus)} in ${round((performance.now() - started) / 1000, 1)} s`);
      const held = await health(latchkey, `GET /health, ${oneUserTally.byStatus['200'] ?? 0} streams of one user open`);
      rounds.push({ idle: idleRound, held, admin: await adminSignIn(latchkey) });
      if (round_ < ROUNDS - 1) {
        for (const a of oneUser) a.request.destroy();
        await sleep(500);
      }
    }
    const idle = { p99: median(rounds.map((r) => r.idle.p99)), rps: median(rounds.map((r) => r.idle.rps)) };
    const heldOne = { p99: median(rounds.map((r) => r.held.p99)), rps: median(rounds.map((r) => r.held.rps)) };
    const oneRatios = rounds.map((r) => round(r.held.p99 / Math.max(1, r.idle.p99), 2));
    const adminOne = Math.max(...rounds.map((r) => r.admin));

    // ---- 2. many users, up to the total
    const many = await seedViaLogin(latchkey, 'many-users', 150, 4);
    const manyAttempts = await parallel(many.length * 4, 200, (i) =>
      attempt(`${latchkey.url}/auth/session/events`, { authorization: `Bearer ${many[i % many.length].access_token}` }),
    );
    const manyTally = tally(manyAttempts);
    const openNow = (oneUserTally.byStatus['200'] ?? 0) + (manyTally.byStatus['200'] ?? 0);
    log(`150 users, ${manyAttempts.length} streams: ${JSON.stringify(manyTally.byStatus)}; ${openNow} open in all`);
    const heldMany = await health(latchkey, `GET /health, ${openNow} streams open`);
    const adminMany = await adminSignIn(latchkey);
    for (const a of [...oneUser, ...manyAttempts]) a.request.destroy();
    await sleep(1000);
    caps = [
      {
        what: `one user, ${ATTEMPTS} streams over 50 sessions`,
        ...oneUserTally.byStatus,
        refusedWithRetryAfter: oneUserTally.refusedWithRetryAfter,
        healthP99Idle: idle.p99,
        healthP99Held: heldOne.p99,
        ratio: median(oneRatios),
        healthRps: heldOne.rps,
        idleRps: idle.rps,
        adminSignIn: adminOne,
      },
      {
        what: `150 users, ${manyAttempts.length} streams`,
        ...manyTally.byStatus,
        refusedWithRetryAfter: manyTally.refusedWithRetryAfter,
        healthP99Idle: idle.p99,
        healthP99Held: heldMany.p99,
        ratio: round(heldMany.p99 / Math.max(1, idle.p99), 2),
        healthRps: heldMany.rps,
        idleRps: idle.rps,
        adminSignIn: adminMany,
      },
    ];
    capsDetail = { rounds, oneRatios, heldMany };
  }

  let feed: Record<string, unknown> = {};
  if (PARTS.has('feed')) {
    // ---- 3. the feed under load: few receivers, then RECEIVERS, back to back. The first run's
    // latency is the revocation path itself (commit, sequencing); the difference is the fan-out.
    const servers = await parallel(SERVERS, 2, (i) => addResourceServer(latchkey, admin.access_token, `feed-${i}`));
    const runs = [];
    for (const count of [SERVERS, RECEIVERS]) {
      const sessions = await seedViaLogin(latchkey, `feed-${count}`, 20, (RATE * FEED_SECONDS) / 20);
      const arrivals = new Map<string, number[]>(sessions.map((s) => [s.session_id, []]));
      const receivers = await openFeedReceivers(latchkey.url, servers, count, arrivals, { refuseNotOk: true });
      await sleep(500);
      const { acked, refused } = await revokeAtRate(latchkey, sessions);
      for (const s of sessions) if (!acked.has(s.session_id)) arrivals.delete(s.session_id);
      const deadline = performance.now() + 10_000;
      while ([...arrivals.values()].some((a) => a.length < count) && performance.now() < deadline) await sleep(20);
      for (const r of receivers) r.close();
      const { latencies, missing } = deliveries(arrivals, acked, count);
      const delivery = latencyStats(latencies);
      log(
        `feed, ${count} receivers: delivery p50 ${delivery.p50} ms, p99 ${delivery.p99} ms, max ${delivery.max} ms, missing ${missing}, logouts refused ${refused}`,
      );
      runs.push({ receivers: count, revocations: acked.size, ...delivery, missing, logoutsRefused: refused });
      await sleep(1000);
    }
    feed = { servers: SERVERS, rate: RATE, seconds: FEED_SECONDS, runs, p99Ratio: round(runs[1].p99 / Math.max(1, runs[0].p99), 2) };
    scenario.table(`The feed under load (${RATE} revocations/s for ${FEED_SECONDS} s; delivery ms from the logout's 204)`, runs);
  }
  if (caps.length) scenario.table(`Open streams against a ${OPEN_FILES}-descriptor process (statuses of the attempts; GET /health under load)`, caps);
  // A partial run (BENCH_STREAMS_PARTS) keeps the full run's record.
  scenario.write(
    {
      openFiles: OPEN_FILES,
      loadAverage: loadavg(),
      caps,
      ...capsDetail,
      feed,
    },
    PARTS.has('caps') && PARTS.has('feed') ? 'streams' : `streams-${[...PARTS].join('-')}`,
  );
});
