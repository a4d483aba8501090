/**
 * Issue 21, account deletion. Victims with 50 sessions and 10,000 audit rows each (bulk-inserted
 * straight into MariaDB, with device names, IPs, user agents and details, as a busy account's
 * rows would hold them) are deleted one after another through
 * DELETE /admin/users/:id: the time of each deletion (the request, which holds the one
 * transaction). Meanwhile other users' refreshes run at 50 connections (refresh.ts's chain
 * hooks, so every request is a real rotation): their p99 during the deletions against the same
 * load without them, in back-to-back pairs (the order alternating), the median ratio of the pairs.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { chainHooks, rotationLoad } from './refresh';
import { DURATION, LoadSummary, connect, generateSecrets, log, median, postJson, register, round, runScenario, seedViaLogin } from './lib';
import { uuidv7 } from '../src/common/ids';

const ADMIN_EMAIL = 'deletion-bench-admin@bench.test';
const ADMIN_PASSWORD = 'deletion bench admin password';
const SESSIONS_PER_VICTIM = 50;
const AUDIT_ROWS_PER_VICTIM = 10_000;
const ROUNDS = Number(process.env.BENCH_DELETION_ROUNDS ?? 3);
const VICTIMS = Number(process.env.BENCH_DELETION_VICTIMS ?? 8 * ROUNDS + 1);
const INSERT_BATCH = 1000;

async function deleteUser(url: string, adminToken: string, userId: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/admin/users/${userId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${adminToken}` },
    signal: AbortSignal.timeout(60_000),
  });
  const ms = performance.now() - started;
  if (res.status !== 202) throw new Error(`DELETE /admin/users/${userId}: ${res.status} ${await res.text()}`);
  return round(ms, 1);
}

if (require.main === module) {
  runScenario('deletion', 20 * 60_000, async (scenario) => {
    const database = await scenario.database();
    const app = await scenario.startApp({ name: 'deletion-app', database, secrets: generateSecrets(), env: { ADMIN_EMAIL, ADMIN_PASSWORD } });
    const admin = (await postJson<{ access_token: string }>(`${app.url}/auth/login`, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).body.access_token;

    log(`seeding the other users: ${8 * ROUNDS} × 25 sessions`);
    const others = await seedViaLogin(app, 'others', 8 * ROUNDS, 25);

    log(`seeding ${VICTIMS} victims: ${SESSIONS_PER_VICTIM} sessions and ${AUDIT_ROWS_PER_VICTIM} audit rows each`);
    const victims: string[] = [];
    const conn = await connect(database);
    try {
      for (let v = 0; v < VICTIMS; v++) {
        const email = `victim-${v}@bench.test`;
        await register(app, email);
        const [[row]] = (await conn.query('SELECT id FROM users WHERE email = ?', [email])) as unknown as [Array<{ id: string }>];
        victims.push(row.id);
        // The sessions as logins leave them (device, IP, user agent), inserted straight away: their
        // tokens are never used, and 50 argon2 logins per victim would only slow the seeding.
        const now = Date.now();
        const sessions = Array.from({ length: SESSIONS_PER_VICTIM }, (_, i) => ({ session_id: uuidv7(now - i) }));
        await conn.query(
          'INSERT INTO sessions (id, user_id, device_id, device_name, user_agent, ip, created_at, last_used_at, expires_at, idle_expires_at, generation, salt) VALUES ?',
          [
            sessions.map((x, i) => [
              x.session_id,
              row.id,
              `victim-${v}-device-${i}`,
              `Phone ${i}`,
              `BenchBrowser/${v}.${i}`,
              `198.51.100.${i}`,
              now,
              now,
              now + 30 * 86_400_000,
              now + 7 * 86_400_000,
              0,
              randomBytes(16).toString('base64url'),
            ]),
          ],
        );
        const start = Date.now() - 30 * 86_400_000;
        for (let offset = 0; offset < AUDIT_ROWS_PER_VICTIM; offset += INSERT_BATCH) {
          const rows = Array.from({ length: Math.min(INSERT_BATCH, AUDIT_ROWS_PER_VICTIM - offset) }, (_, i) => {
            const at = start + (offset + i) * 200;
            const session = sessions[(offset + i) % sessions.length].session_id;
            return [
              uuidv7(at),
              (offset + i) % 3 ? 'token_refreshed' : 'login_succeeded',
              row.id,
              session,
              null,
              `203.0.113.${(offset + i) % 250}`,
              `BenchBrowser/${v}.${i % 7} (${randomBytes(4).toString('hex')})`,
              JSON.stringify({ deviceId: `victim-${v}-device-${i % 50}` }),
              at,
            ];
          });
          await conn.query('INSERT INTO audit_events (id, type, user_id, session_id, actor_id, ip, user_agent, details, created_at) VALUES ?', [rows]);
        }
      }
    } finally {
      await conn.end();
    }

    // Chains of their own for each run: the requests still in flight when a run ends leave their
    // chains checked out (the warm-up's too), and a run must start with one free chain per connection.
    const runs = Array.from({ length: 2 * ROUNDS }, (_, r) => chainHooks(others.filter((_, i) => i % (2 * ROUNDS) === r).map((s) => s.refresh_token)));
    let run = 0;
    const refreshLoad = (label: string) => rotationLoad(label, app.url, runs[run++]);

    // Back-to-back pairs, the order alternating, and the median ratio: on a shared machine one
    // run alone moves by several times.
    const deletions: number[] = [];
    const queue = [...victims];
    const pairs: Array<{ without: LoadSummary; during: LoadSummary; deletions: number }> = [];
    const withDeletions = async (round: number) => {
      const windowEnd = Date.now() + 1000 * (1 + DURATION); // load()'s warm-up, then its measured window
      let n = 0;
      const deleting = (async () => {
        while (queue.length > 1 && Date.now() < windowEnd) {
          deletions.push(await deleteUser(app.url, admin, queue.shift()!));
          n++;
          log(`deleted a victim in ${deletions[deletions.length - 1]} ms`);
        }
      })();
      const during = await refreshLoad(`others refresh, during deletions (round ${round + 1})`);
      await deleting;
      return { during, n };
    };
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        const without = await refreshLoad(`others refresh, no deletion (round ${round + 1})`);
        const { during, n } = await withDeletions(round);
        pairs.push({ without, during, deletions: n });
      } else {
        const { during, n } = await withDeletions(round);
        const without = await refreshLoad(`others refresh, no deletion (round ${round + 1})`);
        pairs.push({ without, during, deletions: n });
      }
    }
    const failed = runs.reduce((n, h) => n + h.stats.failed, 0);
    if (failed > 0) throw new Error(`${failed} refreshes of other users failed`);

    // One more deletion with nothing else running: its time alone.
    const quiet = await deleteUser(app.url, admin, queue.shift()!);
    const check = await connect(database);
    // The account_deleted event itself keeps the admin's own client: it is theirs.
    const [[remaining]] = (await check.query(
      "SELECT COUNT(*) AS n FROM audit_events WHERE (ip IS NOT NULL OR user_agent IS NOT NULL) AND user_id = ? AND type <> 'account_deleted'",
      [victims[0]],
    )) as unknown as [Array<{ n: number }>];
    await check.end();

    const ratios = pairs.map((p) => round(p.during.p99 / p.without.p99, 2));
    const ratio = median(ratios);
    const table = pairs.flatMap((p, i) => [
      { run: p.without.label, 'req/s': p.without.rps, 'p50 ms': p.without.p50, 'p99 ms': p.without.p99, deletions: '' },
      { run: p.during.label, 'req/s': p.during.rps, 'p50 ms': p.during.p50, 'p99 ms': p.during.p99, deletions: p.deletions, ratio: ratios[i] },
    ]);
    scenario.table(`Other users' refreshes (${others.length} chains, ${ROUNDS} pairs, 50 connections, ${DURATION} s each)`, table);
    scenario.table('Deletions (50 sessions, 10,000 audit rows each)', [
      { what: 'deletions during the load', n: deletions.length, 'median ms': median(deletions), 'max ms': Math.max(...deletions) },
      { what: 'one deletion alone', n: 1, 'median ms': quiet, 'max ms': quiet },
    ]);
    const targetRatios = { refreshP99DuringVsWithout: { value: ratio, target: 1.5, direction: '<=' } };
    scenario.ratios('Ratio (median of the pairs)', targetRatios);
    scenario.write({
      loadAverage: loadavg().map((l) => round(l, 2)),
      victims: VICTIMS,
      sessionsPerVictim: SESSIONS_PER_VICTIM,
      auditRowsPerVictim: AUDIT_ROWS_PER_VICTIM,
      otherChains: others.length,
      durationS: DURATION,
      pairs,
      pairRatios: ratios,
      deletionsDuringMs: deletions,
      deletionAloneMs: quiet,
      victimAuditRowsLeftWithIp: Number(remaining.n),
      table,
      ratios: targetRatios,
    });
  });
}
