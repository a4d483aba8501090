/**
 * What a DPoP proof (RFC 9449) costs: on refresh and on the guard, bound sessions against plain
 * Bearer ones of the same app, back to back in one run. Proofs are signed beforehand (ES256, a
 * fresh jti each, iat now), a pool per run, so the client's signing is not in the measurement:
 * the server's check is (parse, ES256 verify against the embedded JWK, thumbprint, claims, the
 * jti replay store). The same runs against a second instance with REDIS_URL, where every proof
 * also costs a `SET NX` round trip (the replay store shared by instances).
 */
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { accessTokenHash } from '@latchkey/verifier';
import { chainHooks, rotationLoad } from './refresh';
import {
  CONNECTIONS,
  DURATION,
  LoadSummary,
  PASSWORD,
  WARMUP,
  bearerTokens,
  freePort,
  generateSecrets,
  load,
  log,
  parallel,
  postJson,
  registerUsers,
  round,
  runScenario,
} from './lib';

// autocannon checks a chain out for each connection as it opens (warm-up and run): well over twice CONNECTIONS.
const USERS = 16;
const PER_USER = 12;
/** Proofs per guard run: enough for the fastest run seen (≈ 12k req/s) over warm-up and run. */
const GUARD_PROOFS = Number(process.env.BENCH_DPOP_GUARD_PROOFS ?? 100_000);
const REFRESH_PROOFS = Number(process.env.BENCH_DPOP_REFRESH_PROOFS ?? 30_000);

interface Key {
  privateKey: jose.CryptoKey;
  jwk: jose.JWK;
}

async function newKey(): Promise<Key> {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
  return { privateKey, jwk: await jose.exportJWK(publicKey) };
}

function proof(key: Key, method: string, url: string, accessToken?: string): Promise<string> {
  const claims = {
    htm: method,
    htu: url,
    iat: Math.floor(Date.now() / 1000),
    jti: randomUUID(),
    ...(accessToken ? { ath: accessTokenHash(accessToken) } : {}),
  };
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk }).sign(key.privateKey);
}

interface Session {
  key?: Key;
  access_token: string;
  refresh_token: string;
}

runScenario('dpop', 8 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  // Each at its own URL (JWT_ISSUER): the public origin a proof's htu must name.
  const ownUrl = (port: number) => ({ port, env: { JWT_ISSUER: `http://127.0.0.1:${port}` } });
  const appAt = ownUrl(freePort());
  const app = await scenario.startApp({ name: 'dpop-app', database, secrets, ...appAt });
  const redisPrefix = `latchkey-bench-dpop-${process.pid}:`;
  const sharedAt = ownUrl(freePort());
  const shared = await scenario.startApp({
    name: 'dpop-app-redis',
    database,
    secrets,
    port: sharedAt.port,
    env: { ...sharedAt.env, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: redisPrefix },
  });

  const targets = [
    { tag: 'memory', app },
    { tag: 'redis', app: shared },
  ];
  log(`seeding, per instance, ${USERS * PER_USER} bound and ${USERS * PER_USER} plain sessions via login`);
  const emails = await registerUsers(app, 'dpop', USERS);
  // On the instance that is measured: its tokens name its own issuer, which the other refuses.
  const open = async (at: string, i: number, set: string, key?: Key) => {
    const headers: Record<string, string> = key ? { dpop: await proof(key, 'POST', `${at}/auth/login`) } : {};
    const r = await postJson<{ access_token: string; refresh_token: string; token_type: string }>(
      `${at}/auth/login`,
      { email: emails[i % USERS], password: PASSWORD, deviceId: `${set}-device-${i}` },
      headers,
    );
    if (r.status !== 200 || r.body.token_type !== (key ? 'DPoP' : 'Bearer')) throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`);
    return { ...r.body, key };
  };
  // Fresh chains for every refresh run (MAX_SESSIONS_PER_USER is 50: 4 sets of 12 per user fit), so
  // no run inherits a chain whose last rotation another run left unrecorded.
  const sets = new Map<string, Session[]>();
  for (const { tag, app: target } of targets) {
    sets.set(`plain_${tag}`, await parallel(USERS * PER_USER, 8, (i) => open(target.url, i, `plain-${tag}`)));
    sets.set(`bound_${tag}`, await parallel(USERS * PER_USER, 8, async (i) => open(target.url, i, `bound-${tag}`, await newKey())));
  }

  const runs: Record<string, LoadSummary> = {};
  for (const { tag, app: target } of targets) {
    log(`${tag}: refresh`);
    for (const kind of ['plain', 'bound'] as const) {
      const chains = await proofChains(sets.get(`${kind}_${tag}`)!, `${target.url}/auth/token`);
      runs[`refresh_${kind}_${tag}`] = await rotationLoad(`refresh, ${kind === 'bound' ? 'DPoP-bound' : 'Bearer'} session (${tag})`, target.url, chains);
      if (chains.stats.failed || chains.exhausted())
        throw new Error(`${kind} refreshes: ${chains.stats.failed} failed, proofs exhausted: ${chains.exhausted()}`);
    }

    log(`${tag}: guard`);
    const bearer = sets
      .get(`plain_${tag}`)!
      .slice(0, CONNECTIONS)
      .map((s) => s.access_token);
    runs[`guard_plain_${tag}`] = await load({
      label: `GET /auth/session, Bearer (${tag})`,
      url: target.url,
      path: '/auth/session',
      setupRequest: bearerTokens(bearer),
    });
    const pool = await guardProofs(sets.get(`bound_${tag}`)!.slice(0, CONNECTIONS), `${target.url}/auth/session`);
    let used = 0;
    runs[`guard_bound_${tag}`] = await load({
      label: `GET /auth/session, DPoP + proof (${tag})`,
      url: target.url,
      path: '/auth/session',
      setupRequest: (req) => {
        const p = pool[used++];
        return p ? { ...req, headers: { authorization: `DPoP ${p.token}`, dpop: p.proof } } : null;
      },
    });
    if (used > pool.length) throw new Error(`the guard run used up its ${pool.length} proofs: raise BENCH_DPOP_GUARD_PROOFS`);
  }
  for (const run of Object.values(runs))
    if (run.non2xx || run.errors) throw new Error(`${run.label}: ${run.non2xx} non-2xx (${JSON.stringify(run.statuses)}), ${run.errors} errors`);

  const ratio = (a: string, b: string) => round(runs[a].rps / runs[b].rps, 3);
  const ratios = {
    refreshBoundVsBearer: ratio('refresh_bound_memory', 'refresh_plain_memory'),
    refreshBoundVsBearerRedis: ratio('refresh_bound_redis', 'refresh_plain_redis'),
    guardDpopVsBearer: ratio('guard_bound_memory', 'guard_plain_memory'),
    guardDpopVsBearerRedis: ratio('guard_bound_redis', 'guard_plain_redis'),
  };
  const table = Object.values(runs).map((s) => ({ run: s.label, 'req/s': s.rps, 'p50 ms': s.p50, 'p99 ms': s.p99 }));
  scenario.table(`DPoP cost (concurrency ${CONNECTIONS}, ${DURATION} s each)`, table);
  scenario.ratios('Ratios (1.0 = a proof costs nothing)', ratios);
  scenario.write({ runs, ratios, connections: CONNECTIONS, durationS: DURATION, warmupS: WARMUP, table });
});

/** chainHooks, plus a fresh proof of the chain's key with every request of a bound chain. */
async function proofChains(sessions: Session[], url: string) {
  const perChain = Math.ceil(REFRESH_PROOFS / sessions.length);
  const proofs = await Promise.all(
    sessions.map((s) => (s.key ? Promise.all(Array.from({ length: perChain }, () => proof(s.key!, 'POST', url))) : Promise.resolve([] as string[]))),
  );
  const hooks = chainHooks(sessions.map((s) => s.refresh_token));
  let exhausted = false;
  return {
    stats: hooks.stats,
    exhausted: () => exhausted,
    setupRequest(req: Record<string, unknown>, context: Record<string, unknown>) {
      const out = hooks.setupRequest(req, context);
      const key = out ? sessions[context.chain as number].key : undefined;
      if (!out || !key) return out;
      const p = proofs[context.chain as number].pop();
      if (!p) exhausted = true;
      return { ...out, headers: { ...(out.headers as Record<string, string>), dpop: p ?? '' } };
    },
    onResponse: hooks.onResponse,
  };
}

async function guardProofs(sessions: Session[], url: string): Promise<Array<{ token: string; proof: string }>> {
  const started = Date.now();
  const out: Array<{ token: string; proof: string }> = [];
  for (let i = 0; i < GUARD_PROOFS; i += 1000) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: 1000 }, async (_, j) => {
          const s = sessions[(i + j) % sessions.length];
          return { token: s.access_token, proof: await proof(s.key!, 'GET', url, s.access_token) };
        }),
      )),
    );
  }
  log(`${out.length} guard proofs signed in ${round((Date.now() - started) / 1000, 1)} s`);
  return out;
}
