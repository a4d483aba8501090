/**
 * Scenario 4, scale. One database grows from 10,000 sessions (1,000 users) to 1,000,000
 * sessions (100,000 users), bulk-seeded with multi-row INSERTs straight into MariaDB (every
 * user shares one real argon2id hash; every session has its own salt). Refresh tokens for a
 * sample of seeded sessions are minted with the app's RefreshTokenCodec and the bench's
 * REFRESH_TOKEN_KEYS key. At each size: refresh throughput (chains as in scenario 2), the
 * latency of GET /me/sessions (10 sessions per user at both sizes), EXPLAIN of the hot
 * statements, and the app process's RSS (VmRSS).
 */
import { randomBytes } from 'node:crypto';
import { hash } from '@node-rs/argon2';
import { ARGON2_OPTIONS } from '../src/users/password.service';
import { RefreshTokenCodec } from '../src/sessions/refresh-token';
import { uuidv7 } from '../src/common/ids';
import { SELECT_FOR_REFRESH, ROTATE, chainHooks, rotationLoad } from './refresh';
import {
  AppProcess,
  CONNECTIONS,
  DURATION,
  PASSWORD,
  Secrets,
  bearerTokens,
  connect,
  generateSecrets,
  load,
  log,
  parallel,
  refresh,
  round,
  runScenario,
} from './lib';

const SESSIONS_PER_USER = 10;
const SMALL_USERS = Number(process.env.BENCH_SCALE_SMALL_USERS ?? 1_000);
const LARGE_USERS = Number(process.env.BENCH_SCALE_LARGE_USERS ?? 100_000);
const BATCH = 5_000;
const SAMPLE = 2_000;
const ME_TOKENS = 200;

interface SeededSession {
  id: string;
  userId: string;
  salt: string;
}

const USER_COLUMNS = ['id', 'email', 'name', 'password_hash', 'role', 'disabled_at', 'password_changed_at', 'created_at', 'updated_at', 'last_login_at'];
const SESSION_COLUMNS = [
  'id',
  'user_id',
  'device_id',
  'device_name',
  'user_agent',
  'ip',
  'created_at',
  'last_used_at',
  'expires_at',
  'idle_expires_at',
  'generation',
  'rotated_at',
  'salt',
  'revoked_at',
  'revoked_reason',
];

/**
 * Seeds users [from, to) with SESSIONS_PER_USER sessions each. Returns every session id with its
 * salt (about 100 bytes each in this process, 100 MB at 1M: only the bench holds them).
 * Users are created in id order and each user's sessions together, so both primary keys and
 * the (user_id, …) indexes grow at their right end.
 */
async function seed(database: string, passwordHash: string, from: number, to: number, out: SeededSession[]): Promise<number> {
  const started = Date.now();
  const conns = await Promise.all([connect(database), connect(database)]);
  try {
    const usersPerBatch = BATCH / SESSIONS_PER_USER;
    const batches: Array<[number, number]> = [];
    for (let u = from; u < to; u += usersPerBatch) batches.push([u, Math.min(to, u + usersPerBatch)]);
    const now = Date.now();
    let next = 0;
    await Promise.all(
      conns.map(async (conn) => {
        while (next < batches.length) {
          const [a, b] = batches[next++];
          const users: unknown[][] = [];
          const sessions: unknown[][] = [];
          const salts = randomBytes(16 * (b - a) * SESSIONS_PER_USER);
          let k = 0;
          for (let u = a; u < b; u++) {
            const userId = uuidv7(now - (to - u));
            users.push([userId, `scale-${u}@bench.test`, null, passwordHash, 'user', null, null, now, now, null]);
            for (let s = 0; s < SESSIONS_PER_USER; s++, k++) {
              const id = uuidv7(now);
              const salt = salts.subarray(k * 16, k * 16 + 16).toString('base64url');
              const lastUsed = now - ((u * 7 + s * 13) % 86_400) * 1000;
              sessions.push([
                id,
                userId,
                `seed-device-${s}`,
                `device ${s}`,
                'latchkey-bench',
                '127.0.0.1',
                lastUsed,
                lastUsed,
                now + 30 * 86_400_000,
                now + 7 * 86_400_000,
                0,
                null,
                salt,
                null,
                null,
              ]);
              out.push({ id, userId, salt });
            }
          }
          await conn.query(`INSERT INTO users (${USER_COLUMNS.join(', ')}) VALUES ?`, [users]);
          await conn.query(`INSERT INTO sessions (${SESSION_COLUMNS.join(', ')}) VALUES ?`, [sessions]);
        }
      }),
    );
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
  const seconds = round((Date.now() - started) / 1000, 1);
  log(`seeded users ${from}..${to} (${(to - from) * SESSIONS_PER_USER} sessions) in ${seconds} s`);
  return seconds;
}

function sample<T>(items: T[], n: number, distinctBy: (t: T) => string, exclude: Set<string>): T[] {
  const picked: T[] = [];
  const seen = new Set<string>(exclude);
  seen.add('');
  for (let guard = 0; picked.length < n && guard < n * 20; guard++) {
    const item = items[Math.floor(Math.random() * items.length)];
    const key = distinctBy(item);
    if (seen.has(key)) continue;
    seen.add(key);
    picked.push(item);
  }
  return picked;
}

async function explain(database: string, sessionId: string, userId: string): Promise<Record<string, unknown>> {
  const conn = await connect(database);
  try {
    const now = Date.now();
    const q = async (sql: string, params: unknown[]) =>
      ((await conn.query(`EXPLAIN ${sql}`, params)) as unknown as [Array<Record<string, unknown>>])[0].map((r) => ({
        table: r.table,
        type: r.type,
        key: r.key,
        rows: r.rows,
        Extra: r.Extra,
      }));
    return {
      refreshSelect: await q(SELECT_FOR_REFRESH, [sessionId]),
      refreshUpdate: await q(ROTATE, [1, now, now, now, sessionId, 0]),
      listForUser: await q(
        'SELECT * FROM sessions s WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.idle_expires_at > ? ORDER BY s.last_used_at DESC, s.id DESC LIMIT 1000',
        [userId, now, now],
      ),
    };
  } finally {
    await conn.end();
  }
}

/** Sessions already rotated by an earlier measurement: their generation-0 token is spent. */
const used = new Set<string>();

async function measure(label: string, app: AppProcess, database: string, secrets: Secrets, all: SeededSession[]) {
  const codec = new RefreshTokenCodec([{ id: secrets.refreshKeyId, key: secrets.refreshKey }]);
  const picked = sample(all, SAMPLE + ME_TOKENS, (s) => (used.has(s.id) ? '' : s.id), used);
  for (const s of picked) used.add(s.id);
  const forRefresh = picked.slice(0, SAMPLE);
  const forMe = picked.slice(SAMPLE);
  // Access tokens for GET /me/sessions: one refresh each, over HTTP.
  const meTokens = (await parallel(forMe.length, 8, (i) => refresh(app, codec.issue(forMe[i].id, 0, forMe[i].salt)))).map((t) => t.access_token);
  const check = await fetch(`${app.url}/me/sessions`, { headers: { authorization: `Bearer ${meTokens[0]}` }, signal: AbortSignal.timeout(10_000) });
  if (check.status !== 200) {
    const other = await fetch(`${app.url}/auth/session`, { headers: { authorization: `Bearer ${meTokens[0]}` } });
    throw new Error(
      `${label}: GET /me/sessions answered ${check.status} ${await check.text()}; /auth/session ${other.status} ${await other.text()} token ${meTokens[0]}`,
    );
  }
  const hooks = chainHooks(forRefresh.map((s) => codec.issue(s.id, 0, s.salt)));
  const refreshRun = await rotationLoad(`${label}: POST /auth/token`, app.url, hooks, { warmup: 3 });
  if (hooks.stats.failed) throw new Error(`${label}: ${hooks.stats.failed} refreshes failed`);
  const meRun = await load({ label: `${label}: GET /me/sessions`, warmup: 2, url: app.url, path: '/me/sessions', setupRequest: bearerTokens(meTokens) });
  if (meRun.non2xx) throw new Error(`${label}: GET /me/sessions answered ${meRun.non2xx} non-2xx`);
  const plans = await explain(database, forRefresh[0].id, forMe[0].userId);
  const rss = app.rssMb();
  log(`${label}: app RSS ${rss} MB`);
  return { refresh: refreshRun, me: meRun, rssMb: rss, explain: plans };
}

runScenario('scale', 9 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const app = await scenario.startApp({ name: 'scale-app', database, secrets });
  const passwordHash = await hash(PASSWORD, ARGON2_OPTIONS);
  const all: SeededSession[] = [];

  const seedSmall = await seed(database, passwordHash, 0, SMALL_USERS, all);
  const small = await measure(`${all.length} sessions`, app, database, secrets, all);
  const smallCount = all.length;
  const seedLarge = await seed(database, passwordHash, SMALL_USERS, LARGE_USERS, all);
  const large = await measure(`${all.length} sessions`, app, database, secrets, all);
  const largeCount = all.length;

  const ratios = {
    refresh1MVs10k: { value: round(large.refresh.rps / small.refresh.rps, 3), target: 0.9, direction: '>=' },
    meSessionsRps1MVs10k: { value: round(large.me.rps / small.me.rps, 3), target: 0.9, direction: '>=' },
    meSessionsP99_10kVs1M: { value: round(small.me.p99 / Math.max(large.me.p99, 1), 3), target: 0.9, direction: '>=' },
    rssAt1MMb: { value: large.rssMb, target: 250, direction: '<=' },
  };
  const table = [
    {
      sessions: smallCount,
      'refresh/s': small.refresh.rps,
      'refresh p99 ms': small.refresh.p99,
      'GET /me/sessions req/s': small.me.rps,
      'me p50 ms': small.me.p50,
      'me p99 ms': small.me.p99,
      'RSS MB': small.rssMb,
    },
    {
      sessions: largeCount,
      'refresh/s': large.refresh.rps,
      'refresh p99 ms': large.refresh.p99,
      'GET /me/sessions req/s': large.me.rps,
      'me p50 ms': large.me.p50,
      'me p99 ms': large.me.p99,
      'RSS MB': large.rssMb,
    },
  ];
  scenario.table(`Scale (${CONNECTIONS} connections, ${DURATION} s per run; seeding ${seedSmall} s + ${seedLarge} s)`, table);
  scenario.ratios('Ratios', ratios);
  scenario.write({
    connections: CONNECTIONS,
    durationS: DURATION,
    sessionsPerUser: SESSIONS_PER_USER,
    seedSeconds: { small: seedSmall, large: seedLarge },
    small: { sessions: smallCount, ...small },
    large: { sessions: largeCount, ...large },
    table,
    ratios,
  });
});
