/**
 * Scenario 2, refresh throughput. Sessions are opened via POST /auth/login; autocannon then
 * rotates them through POST /auth/token. Each chain is held by at most one in-flight request:
 * setupRequest checks a chain out (its current refresh token) and onResponse stores the new
 * token and checks it back in, so every request is a genuine rotation, never a grace-window
 * replay. Then a raw mysql2 loop does the same two statements as the app's refresh path
 * (src/sessions/sessions.repository.ts: SELECT ... JOIN users by id, conditional UPDATE) over
 * the same sessions, with the same 50 concurrent workers and the app's pool size (10).
 */
import * as mysql from 'mysql2/promise';
import { CONNECTIONS, DURATION, LoadOptions, LoadSummary, MYSQL, WARMUP, generateSecrets, load, log, round, runScenario, seedViaLogin } from './lib';

export const SELECT_FOR_REFRESH = `SELECT s.id, s.user_id, s.device_id, s.generation, s.rotated_at, s.salt, s.revoked_at, s.expires_at,
              s.idle_expires_at, s.dpop_jkt, u.role, u.disabled_at
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ?`;
export const ROTATE = `UPDATE sessions SET generation = ?, rotated_at = ?, last_used_at = ?, idle_expires_at = ?
        WHERE id = ? AND generation = ? AND revoked_at IS NULL`;
export const APP_POOL_SIZE = 10;

/** autocannon hooks that rotate a set of chains, each used by one request at a time. */
export function chainHooks(tokens: string[]) {
  const free: number[] = tokens.map((_, i) => i);
  const stats = { ok: 0, failed: 0, starved: 0, broken: 0 };
  return {
    stats,
    setupRequest(req: Record<string, unknown>, context: Record<string, unknown>) {
      const i = free.shift();
      if (i === undefined) {
        stats.starved++;
        return null;
      }
      context.chain = i;
      return { ...req, method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"grant_type":"refresh_token","refresh_token":"${tokens[i]}"}` };
    },
    onResponse(status: number, body: string, context: Record<string, unknown>) {
      const i = context.chain as number | undefined;
      if (i === undefined) return;
      context.chain = undefined;
      if (status === 200) {
        tokens[i] = (JSON.parse(body) as { refresh_token: string }).refresh_token;
        stats.ok++;
        free.push(i);
      } else {
        // A failed rotation leaves the chain in an unknown state: take it out of the rotation.
        stats.failed++;
        stats.broken++;
      }
    },
  };
}

/** An autocannon run of POST /auth/token rotating chains through their hooks (chainHooks'). */
export function rotationLoad(
  label: string,
  url: string,
  hooks: Required<Pick<LoadOptions, 'setupRequest' | 'onResponse'>>,
  options: Partial<LoadOptions> = {},
): Promise<LoadSummary> {
  return load({ label, url, path: '/auth/token', method: 'POST', setupRequest: hooks.setupRequest, onResponse: hooks.onResponse, ...options });
}

/** The raw ceiling: the refresh statements in a bounded loop at `concurrency`, for `seconds`. */
export async function rawRotationLoop(
  database: string,
  sessionIds: string[],
  concurrency: number,
  seconds: number,
): Promise<{ rotations: number; perSecond: number; failed: number }> {
  const pool = mysql.createPool({ ...MYSQL, database, connectionLimit: APP_POOL_SIZE, supportBigNumbers: true, bigNumberStrings: false });
  const free = sessionIds.map((_, i) => i);
  let rotations = 0;
  let failed = 0;
  const run = async (until: number, count: boolean) => {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const i = free.shift();
          if (i === undefined) throw new Error('more workers than sessions');
          const [rows] = (await pool.query(SELECT_FOR_REFRESH, [sessionIds[i]])) as unknown as [Array<Record<string, unknown>>];
          const row = rows[0];
          const now = Date.now();
          const g = Number(row.generation);
          const idle = Math.min(now + 7 * 86400_000, Number(row.expires_at));
          const [result] = (await pool.query(ROTATE, [g + 1, now, now, idle, row.id, g])) as unknown as [{ affectedRows: number }];
          free.push(i);
          if (!count) continue;
          if (result.affectedRows === 1) rotations++;
          else failed++;
        }
      }),
    );
  };
  try {
    if (WARMUP > 0) await run(Date.now() + WARMUP * 1000, false);
    const started = Date.now();
    await run(started + seconds * 1000, true);
    const elapsed = (Date.now() - started) / 1000;
    return { rotations, perSecond: round(rotations / elapsed, 0), failed };
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  runScenario('refresh', 4 * 60_000, async (scenario) => {
    const USERS = 24;
    const PER_USER = 25;
    const database = await scenario.database();
    const app = await scenario.startApp({ name: 'refresh-app', database, secrets: generateSecrets() });
    log(`seeding ${USERS * PER_USER} sessions via login`);
    const sessions = await seedViaLogin(app, 'refresh', USERS, PER_USER);
    const hooks = chainHooks(sessions.map((s) => s.refresh_token));
    const appRun = await rotationLoad('latchkey POST /auth/token (rotation)', app.url, hooks);
    if (hooks.stats.failed > 0) throw new Error(`${hooks.stats.failed} refreshes failed`);
    log('raw mysql2 loop, same statements');
    const raw = await rawRotationLoop(
      database,
      sessions.map((s) => s.session_id),
      CONNECTIONS,
      DURATION,
    );
    log(`raw mysql2: ${raw.perSecond} rotations/s (${raw.failed} lost CAS)`);
    const ratio = round(appRun.rps / raw.perSecond, 3);
    const table = [
      { run: 'latchkey POST /auth/token', 'rotations/s': appRun.rps, 'p50 ms': appRun.p50, 'p99 ms': appRun.p99 },
      { run: `raw mysql2 loop (pool ${APP_POOL_SIZE})`, 'rotations/s': raw.perSecond, 'p50 ms': '', 'p99 ms': '' },
    ];
    scenario.table(`Refresh throughput (${sessions.length} sessions, concurrency ${CONNECTIONS}, ${DURATION} s)`, table);
    const ratios = { appVsRawMysql2: { value: ratio, target: 0.5, direction: '>=' } };
    scenario.ratios('Ratio', ratios);
    scenario.write({
      sessions: sessions.length,
      connections: CONNECTIONS,
      durationS: DURATION,
      app: appRun,
      raw: { ...raw, poolSize: APP_POOL_SIZE, concurrency: CONNECTIONS },
      table,
      ratios,
      appRssMb: app.rssMb(),
    });
  });
}
