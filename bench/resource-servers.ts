/**
 * Issue 10: resource servers. One latchkey process on MariaDB, and the example resource server
 * (examples/resource-server: Fastify + @latchkey/verifier) as a real process.
 *
 * 1. Propagation: for each of 200 sessions, the resource server accepts its access token; the
 *    session is revoked at latchkey (POST /auth/logout); the resource server is asked again every
 *    millisecond until it answers 401. Measured from latchkey's 204 to the first 401. Once with
 *    the verifier on the SSE stream, once on long polling.
 * 2. Verifier throughput: the resource server's unauthenticated GET /public against GET /orders
 *    through the verifier, with 50 reused tokens and with a fresh token per request (a pool of
 *    15,000, larger than the verifier's token cache), back to back. Every run sends a token
 *    chosen per request (GET /public ignores it), so the load generator's own cost is the same.
 * 3. The feed under load: 200 Server-Sent-Event receivers (20 for each of 10 resource servers,
 *    raw streams in this process) while 100 sessions a second are revoked for 10 s. Reported:
 *    latchkey's CPU against the same revocations with no receiver, and the delivery latency
 *    (revocation acknowledged → event received) over every receiver and event.
 */
import { performance } from 'node:perf_hooks';
import {
  AppProcess,
  ResourceServerCredentials,
  TokenResponse,
  addResourceServer,
  bearerStatus,
  bearerTokens,
  cpuSeconds,
  deliveries,
  freePort,
  generateSecrets,
  latencyStats,
  load,
  log,
  median,
  mintForSessions,
  openFeedReceivers,
  parallel,
  postJson,
  round,
  runScenario,
  seedViaLogin,
  sleep,
  startApp,
} from './lib';

const REVOCATIONS = Number(process.env.BENCH_RS_REVOCATIONS ?? 200);
const RECEIVERS = Number(process.env.BENCH_FEED_RECEIVERS ?? 200);
const SERVERS = Number(process.env.BENCH_FEED_SERVERS ?? 10);
const RATE = Number(process.env.BENCH_FEED_RATE ?? 100);
const FEED_SECONDS = Number(process.env.BENCH_FEED_SECONDS ?? 10);
const ADMIN = { email: 'bench-admin@bench.test', password: 'bench admin password' };

function startResourceServer(
  latchkey: AppProcess,
  credentials: ResourceServerCredentials,
  transport: 'stream' | 'poll',
  database: string,
  secrets: ReturnType<typeof generateSecrets>,
): Promise<AppProcess> {
  return startApp({
    name: `resource-server-${transport}`,
    database,
    secrets,
    script: 'dist/examples/resource-server/server.js',
    env: { LATCHKEY_URL: latchkey.url, LATCHKEY_CLIENT_ID: credentials.clientId, LATCHKEY_CLIENT_SECRET: credentials.clientSecret, FEED_TRANSPORT: transport },
  });
}

async function propagation(latchkey: AppProcess, rs: AppProcess, sessions: TokenResponse[], label: string) {
  const afterAck: number[] = [];
  for (const s of sessions) {
    if ((await bearerStatus(`${rs.url}/orders`, s.access_token)) !== 200) throw new Error(`${label}: the resource server does not accept a live token`);
    await sleep(Math.random() * 20);
    if ((await bearerStatus(`${latchkey.url}/auth/logout`, s.access_token, 'POST')) !== 204) throw new Error(`${label}: logout failed`);
    const acked = performance.now();
    for (;;) {
      const code = await bearerStatus(`${rs.url}/orders`, s.access_token);
      if (code === 401) break;
      if (code !== 200) throw new Error(`${label}: the resource server answered ${code}`);
      if (performance.now() - acked > 10_000) throw new Error(`${label}: still accepted 10 s after the revocation`);
      await sleep(1);
    }
    afterAck.push(performance.now() - acked);
  }
  const result = { label, ...latencyStats(afterAck) };
  log(`${label}: p50 ${result.p50} ms, p99 ${result.p99} ms, max ${result.max} ms over ${result.n}`);
  return result;
}

/** Revokes `sessions` at `RATE` a second; returns when each one was acknowledged. */
async function revokeAtRate(latchkey: AppProcess, sessions: TokenResponse[]): Promise<Map<string, number>> {
  const acked = new Map<string, number>();
  const started = performance.now();
  await Promise.all(
    sessions.map(async (s, i) => {
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if ((await bearerStatus(`${latchkey.url}/auth/logout`, s.access_token, 'POST')) !== 204) throw new Error('logout failed');
      acked.set(s.session_id, performance.now());
    }),
  );
  return acked;
}

runScenario('resource-servers', 600_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const port = freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const latchkey = await scenario.startApp({
    name: 'latchkey',
    database,
    secrets,
    port,
    env: { JWT_ISSUER: issuer, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, MAX_SESSIONS_PER_USER: '1000' },
  });
  const admin = (await postJson<TokenResponse>(`${latchkey.url}/auth/login`, ADMIN)).body;

  // ---- 1. propagation
  const propagationResults = [];
  for (const transport of ['stream', 'poll'] as const) {
    const rs = await startResourceServer(
      latchkey,
      await addResourceServer(latchkey, admin.access_token, `propagation-${transport}`),
      transport,
      database,
      secrets,
    );
    const sessions = await seedViaLogin(latchkey, `prop-${transport}`, 20, REVOCATIONS / 20);
    propagationResults.push(
      await propagation(latchkey, rs, sessions, `revocation → first 401 at the resource server (${transport === 'stream' ? 'SSE stream' : 'long polling'})`),
    );
    await rs.stop();
  }

  // ---- 2. verifier throughput
  const rs = await startResourceServer(latchkey, await addResourceServer(latchkey, admin.access_token, 'throughput'), 'stream', database, secrets);
  scenario.cleanup.push(() => rs.stop());
  const live = await seedViaLogin(latchkey, 'throughput', 10, 5);
  const reused = live.map((s) => s.access_token);
  const fresh = await mintForSessions(database, secrets, live, 15_000, issuer);
  // One cursor shared by every run: each starts at the count where the previous one stopped.
  const cursor = { next: 0 };
  const rounds = [];
  for (let r = 0; r < 2; r++) {
    // The unauthenticated route gets the same kind of Authorization header (ignored there), so the
    // load generator, which shares the machine, does the same work in all three runs.
    const open = await load({
      label: 'resource server GET /public (no verification)',
      url: rs.url,
      path: '/public',
      setupRequest: bearerTokens(fresh, cursor),
    });
    const hot = await load({
      label: 'GET /orders, 50 tokens reused',
      url: rs.url,
      path: '/orders',
      setupRequest: bearerTokens(reused, cursor),
    });
    const cold = await load({
      label: 'GET /orders, a fresh token every request',
      url: rs.url,
      path: '/orders',
      setupRequest: bearerTokens(fresh, cursor),
    });
    rounds.push({ open, hot, cold });
  }
  const openRps = median(rounds.map((x) => x.open.rps));
  const hotRps = median(rounds.map((x) => x.hot.rps));
  const coldRps = median(rounds.map((x) => x.cold.rps));
  const throughput = { openRps, hotRps, coldRps, reusedRatio: round(hotRps / openRps, 2), freshRatio: round(coldRps / openRps, 2), rounds };
  await rs.stop();

  // ---- 3. the feed under load
  const servers = await parallel(SERVERS, 2, (i) => addResourceServer(latchkey, admin.access_token, `feed-load-${i}`));
  const revoking = async (receivers: number) => {
    const sessions = await seedViaLogin(latchkey, `feed-${receivers}`, 20, (RATE * FEED_SECONDS) / 20);
    const arrivals = new Map<string, number[]>(sessions.map((s) => [s.session_id, []]));
    const streams = await openFeedReceivers(latchkey.url, servers, receivers, arrivals);
    await sleep(500);
    const cpuBefore = cpuSeconds(latchkey.pid);
    const wallBefore = performance.now();
    const acked = await revokeAtRate(latchkey, sessions);
    // Until every receiver has every event (bounded).
    const deadline = performance.now() + 10_000;
    while (receivers > 0 && [...arrivals.values()].some((a) => a.length < receivers) && performance.now() < deadline) await sleep(20);
    const wall = (performance.now() - wallBefore) / 1000;
    const cpu = cpuSeconds(latchkey.pid) - cpuBefore;
    for (const s of streams) s.close();
    const { latencies, missing } = deliveries(arrivals, acked, receivers);
    const result = {
      receivers,
      revocations: sessions.length,
      seconds: round(wall, 1),
      latchkeyCpuSeconds: round(cpu, 2),
      latchkeyCores: round(cpu / wall, 2),
      missingDeliveries: missing,
      ...(latencies.length ? { delivery: latencyStats(latencies) } : {}),
    };
    log(
      `feed with ${receivers} receivers: latchkey ${result.latchkeyCores} cores over ${result.seconds} s${latencies.length ? `, delivery p50 ${result.delivery!.p50} ms p99 ${result.delivery!.p99} ms` : ''}, missing ${missing}`,
    );
    return result;
  };
  const quiet = await revoking(0);
  const loaded = await revoking(RECEIVERS);

  scenario.table("Propagation to a resource server (ms from latchkey's 204 to the first 401)", propagationResults);
  scenario.table('Verifier throughput (req/s, medians of 2 rounds)', [
    { open: openRps, reused: hotRps, fresh: coldRps, reusedRatio: throughput.reusedRatio, freshRatio: throughput.freshRatio },
  ]);
  scenario.table(
    `The feed under load (${RATE} revocations/s for ${FEED_SECONDS} s)`,
    [quiet, loaded].map(({ delivery, ...rest }) => ({ ...rest, ...(delivery ? { p50: delivery.p50, p99: delivery.p99, max: delivery.max } : {}) })),
  );
  scenario.write({
    propagation: propagationResults,
    throughput,
    feedLoad: { rate: RATE, seconds: FEED_SECONDS, servers: SERVERS, quiet, loaded, feedCpuCores: round(loaded.latchkeyCores - quiet.latchkeyCores, 2) },
  });
});
