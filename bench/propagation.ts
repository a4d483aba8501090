/**
 * Scenario 5, revocation propagation. Two app instances, A and B, on one database. For each of
 * 50 sessions: B accepts the session's access token; the session is revoked on A
 * (POST /auth/logout); B is polled with the old access token until it answers 401. Measured
 * from A's 204 to B's first 401 (and from the start of the revoke request). Once with the
 * database poll alone (REVOCATION_POLL_MS, default 1 s; each revocation starts after a random
 * 0-1 s pause so that it falls at a random phase of B's poll), once with REDIS_URL (pub/sub).
 */
import { performance } from 'node:perf_hooks';
import { AppProcess, bearerStatus, generateSecrets, log, login, median, parallel, registerUsers, round, runScenario, sleep, startApp } from './lib';

const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 50);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POLL_LIMIT_MS = 5_000;

async function run(label: string, a: AppProcess, b: AppProcess, tag: string, dephaseMs: number) {
  const users = Math.ceil(REVOCATIONS / 10);
  const emails = await registerUsers(a, tag, users, 4);
  const sessions = await parallel(REVOCATIONS, 4, (i) => login(a, emails[i % users], `${tag}-device-${i}`));
  const afterAck: number[] = [];
  const afterStart: number[] = [];
  let polls = 0;
  for (const s of sessions) {
    if ((await bearerStatus(`${b.url}/auth/session`, s.access_token)) !== 200) throw new Error(`${label}: B does not accept a fresh token`);
    // Without this, each revocation would start just after B's poll found the previous one,
    // i.e. always at the same phase of B's poll timer (and always wait a whole interval).
    if (dephaseMs > 0) await sleep(Math.random() * dephaseMs);
    const t0 = performance.now();
    const revoked = await bearerStatus(`${a.url}/auth/logout`, s.access_token, 'POST');
    const t1 = performance.now();
    if (revoked !== 204) throw new Error(`${label}: logout on A answered ${revoked}`);
    for (;;) {
      polls++;
      const code = await bearerStatus(`${b.url}/auth/session`, s.access_token);
      const t = performance.now();
      if (code === 401) {
        afterAck.push(t - t1);
        afterStart.push(t - t0);
        break;
      }
      if (code !== 200) throw new Error(`${label}: B answered ${code}`);
      if (t - t1 > POLL_LIMIT_MS) throw new Error(`${label}: B still accepts a revoked session's token after ${POLL_LIMIT_MS} ms`);
      await sleep(1);
    }
  }
  const summary = {
    label,
    revocations: afterAck.length,
    medianMs: round(median(afterAck), 1),
    maxMs: round(Math.max(...afterAck), 1),
    medianFromRequestStartMs: round(median(afterStart), 1),
    maxFromRequestStartMs: round(Math.max(...afterStart), 1),
    pollsOfB: polls,
  };
  log(`${label}: median ${summary.medianMs} ms, max ${summary.maxMs} ms`);
  return summary;
}

runScenario('propagation', 5 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const results = [];
  for (const withRedis of [false, true]) {
    const env: Record<string, string> = withRedis ? { REDIS_URL } : {};
    const a = await startApp({ name: `prop-a${withRedis ? '-redis' : ''}`, database, secrets, env });
    const b = await startApp({ name: `prop-b${withRedis ? '-redis' : ''}`, database, secrets, env });
    try {
      results.push(
        await run(withRedis ? 'with Redis pub/sub' : 'database poll only (REVOCATION_POLL_MS=1000)', a, b, withRedis ? 'redis' : 'poll', withRedis ? 0 : 1000),
      );
    } finally {
      await a.stop();
      await b.stop();
    }
  }
  scenario.table(`Revocation propagation A -> B (${REVOCATIONS} revocations each, ms from A's 204 to B's first 401)`, results);
  scenario.write({ revocations: REVOCATIONS, pollIntervalMs: 1000, results });
});
