/**
 * Issue 14: latchkey on a 3-node MariaDB Galera cluster (scripts/galera.sh, 127.0.0.1:3311-3313,
 * wsrep_retry_autocommit=0 and wsrep_sync_wait=0, so latchkey's own handling is what is measured).
 *
 * 1. Alternating refreshes: instance A on node 1, B on node 2; 50 chains, each refreshed in turn
 *    on B and A, 30,000 refreshes in all. Counted: false invalid_grant and 5xx (both must be 0).
 * 2. Throughput against a single MariaDB (the main server on 3306), back to back: refresh
 *    (autocannon rotating 600 chains, as in scenario 2) and logins (50 connections), on one
 *    instance against one node.
 * 3. Revocation propagation across nodes: a session revoked on A, B asked until it answers 401;
 *    by the database poll alone, and with Redis.
 * 4. The cost of a causal read: the refresh statement with and without wsrep_sync_wait=1.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as mysql from 'mysql2/promise';
import { chainHooks, rotationLoad, SELECT_FOR_REFRESH } from './refresh';
import {
  AppProcess,
  PASSWORD,
  ROOT,
  dbName,
  generateSecrets,
  load,
  log,
  login,
  median,
  parallel,
  percentile,
  registerUsers,
  round,
  runScenario,
  seedViaLogin,
  sleep,
} from './lib';

const NODE_PORTS = [3311, 3312, 3313];
const ROUNDS = Number(process.env.BENCH_GALERA_REFRESHES ?? 30_000);
const CHAINS = 50;
const REVOCATIONS = Number(process.env.BENCH_GALERA_REVOCATIONS ?? 50);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function query(port: number, sql: string): Promise<void> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}

const dbUrl = (port: number, database: string) => `mysql://root@127.0.0.1:${port}/${database}`;

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const res = await fetch(url, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function alternatingRefreshes(a: AppProcess, b: AppProcess) {
  const sessions = await seedViaLogin(a, 'galera-alt', 10, CHAINS / 10);
  const tokens = sessions.map((s) => s.refresh_token);
  const counts = { ok: 0, invalidGrant: 0, serverErrors: 0, other: 0 };
  const started = performance.now();
  await Promise.all(
    tokens.map(async (_, chain) => {
      for (let round = 0; round < ROUNDS / CHAINS; round++) {
        const at = round % 2 === 0 ? b : a;
        const r = await post(`${at.url}/auth/token`, { grant_type: 'refresh_token', refresh_token: tokens[chain] });
        if (r.status === 200) {
          counts.ok++;
          tokens[chain] = r.body.refresh_token as string;
        } else if (r.status >= 500) counts.serverErrors++;
        else if (r.body.error === 'invalid_grant') counts.invalidGrant++;
        else counts.other++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const result = { refreshes: ROUNDS, chains: CHAINS, ...counts, perSecond: round(ROUNDS / seconds, 0) };
  log(`alternating refreshes: ${JSON.stringify(result)}`);
  return result;
}

async function throughput(app: AppProcess, label: string) {
  const tag = `tp-${label.replace(/\W+/g, '-')}`;
  const sessions = await seedViaLogin(app, tag, 60, 10);
  const hooks = chainHooks(sessions.map((s) => s.refresh_token));
  const refresh = await rotationLoad(`${label}: refresh`, app.url, hooks);
  const emails = Array.from({ length: 50 }, (_, i) => `${tag}-${i % 60}@bench.test`);
  let n = 0;
  const logins = await load({
    label: `${label}: logins`,
    url: app.url,
    method: 'POST',
    path: '/auth/login',
    setupRequest: (req) => ({
      ...req,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: emails[n % emails.length], password: PASSWORD, deviceId: `tp-device-${n++ % 40}` }),
    }),
  });
  return { refresh, logins, refreshFailed: hooks.stats.failed };
}

async function propagation(a: AppProcess, b: AppProcess, label: string) {
  const users = Math.ceil(REVOCATIONS / 10);
  const emails = await registerUsers(a, `prop-${label.replace(/\W/g, '')}`, users, 4);
  const sessions = await parallel(REVOCATIONS, 4, (i) => login(a, emails[i % users], `prop-device-${i}`));
  const ms: number[] = [];
  for (const s of sessions) {
    const ok = await fetch(`${b.url}/auth/session`, { headers: { authorization: `Bearer ${s.access_token}` } });
    if (ok.status !== 200) throw new Error(`${label}: B does not accept the token`);
    await sleep(Math.random() * 1000);
    if ((await post(`${a.url}/auth/logout`, undefined, s.access_token)).status !== 204) throw new Error('logout failed');
    const acked = performance.now();
    for (;;) {
      const r = await fetch(`${b.url}/auth/session`, { headers: { authorization: `Bearer ${s.access_token}` } });
      await r.arrayBuffer();
      if (r.status === 401) break;
      if (performance.now() - acked > 10_000) throw new Error(`${label}: B still accepts the token`);
      await sleep(1);
    }
    ms.push(performance.now() - acked);
  }
  const result = { label, n: ms.length, medianMs: round(median(ms), 1), p99Ms: round(percentile(ms, 99), 1), maxMs: round(Math.max(...ms), 1) };
  log(`propagation ${label}: ${JSON.stringify(result)}`);
  return result;
}

async function causalReadCost(database: string, sessionId: string) {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: NODE_PORTS[1], user: 'root', database });
  try {
    const time = async (sql: string) => {
      for (let i = 0; i < 200; i++) await conn.query(sql, [sessionId]);
      const started = performance.now();
      for (let i = 0; i < 2000; i++) await conn.query(sql, [sessionId]);
      return round(((performance.now() - started) * 1000) / 2000, 0);
    };
    const plainUs = await time(SELECT_FOR_REFRESH);
    const causalUs = await time(`SET STATEMENT wsrep_sync_wait=1 FOR ${SELECT_FOR_REFRESH}`);
    log(`refresh read: ${plainUs} µs plain, ${causalUs} µs causal`);
    return { plainUs, causalUs };
  } finally {
    await conn.end();
  }
}

runScenario('galera', 420_000, async (scenario) => {
  // The cluster: started (and installed) by the script when it is not running.
  execFileSync('bash', [join(ROOT, 'scripts', 'galera.sh'), 'start'], { stdio: 'inherit' });
  const database = dbName('galera');
  await query(NODE_PORTS[0], `DROP DATABASE IF EXISTS \`${database}\``);
  await query(NODE_PORTS[0], `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  scenario.cleanup.push(() => query(NODE_PORTS[0], `DROP DATABASE IF EXISTS \`${database}\``));
  const single = dbName('galera_single');
  await query(3306, `DROP DATABASE IF EXISTS \`${single}\``);
  scenario.cleanup.push(() => query(3306, `DROP DATABASE IF EXISTS \`${single}\``));
  const secrets = generateSecrets();
  const start = (name: string, url: string, env: Record<string, string> = {}) =>
    scenario.startApp({ name, database, secrets, env: { DATABASE_URL: url, ...env } });

  // 1. alternating refreshes
  let a = await start('galera-a', dbUrl(NODE_PORTS[0], database));
  let b = await start('galera-b', dbUrl(NODE_PORTS[1], database));
  const alternating = await alternatingRefreshes(a, b);

  // 2. throughput, Galera node against the single server, back to back
  const onSingle = await start('single', dbUrl(3306, single));
  const rounds: Array<{ galera: Awaited<ReturnType<typeof throughput>>; single: Awaited<ReturnType<typeof throughput>> }> = [];
  for (let r = 0; r < 2; r++) rounds.push({ galera: await throughput(a, `galera r${r + 1}`), single: await throughput(onSingle, `single r${r + 1}`) });
  await onSingle.stop();
  const ratio = (pick: (x: { refresh: { rps: number }; logins: { rps: number } }) => number) =>
    round(median(rounds.map((r) => pick(r.galera) / pick(r.single))), 2);
  const throughputResult = {
    refreshGaleraRps: median(rounds.map((r) => r.galera.refresh.rps)),
    refreshSingleRps: median(rounds.map((r) => r.single.refresh.rps)),
    loginsGaleraRps: median(rounds.map((r) => r.galera.logins.rps)),
    loginsSingleRps: median(rounds.map((r) => r.single.logins.rps)),
    refreshRatio: ratio((x) => x.refresh.rps),
    loginsRatio: ratio((x) => x.logins.rps),
    failedRefreshes: rounds.reduce((n, r) => n + r.galera.refreshFailed + r.single.refreshFailed, 0),
    rounds,
  };

  // 3. propagation across nodes, polling only, then with Redis
  const polling = await propagation(a, b, 'by the database poll (every 1 s)');
  await b.stop();
  await a.stop();
  const redisEnv = { REDIS_URL, REDIS_KEY_PREFIX: `lkbench:${process.pid}:`, REVOCATION_POLL_MS: '60000' };
  a = await start('galera-a-redis', dbUrl(NODE_PORTS[0], database), redisEnv);
  b = await start('galera-b-redis', dbUrl(NODE_PORTS[1], database), redisEnv);
  await sleep(500);
  const redis = await propagation(a, b, 'by Redis');

  // 4. what a causal read costs
  const [{ session_id: sessionId }] = await seedViaLogin(a, 'causal', 1, 1);
  const causal = await causalReadCost(database, sessionId);

  scenario.table(`Alternating refreshes on two nodes (wsrep_retry_autocommit=0)`, [alternating]);
  scenario.table('Throughput: one instance on a Galera node against one on a single MariaDB (req/s, medians of 2 rounds)', [
    { what: 'refresh', galera: throughputResult.refreshGaleraRps, single: throughputResult.refreshSingleRps, ratio: throughputResult.refreshRatio },
    { what: 'logins', galera: throughputResult.loginsGaleraRps, single: throughputResult.loginsSingleRps, ratio: throughputResult.loginsRatio },
  ]);
  scenario.table('Revocation propagation from node 1 to node 2 (ms)', [polling, redis]);
  scenario.table('The refresh read on node 2 (µs each, 2,000 in a row)', [causal]);
  scenario.write({ alternating, throughput: throughputResult, propagation: [polling, redis], causalRead: causal });
});
