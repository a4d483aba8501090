/**
 * Issue 11, "the refresh ceiling": the access-token algorithm (JWT_ALG) by measurement. For each
 * of RS256, ES256 and EdDSA, a latchkey process on a fresh database, and back to back:
 *   - refresh throughput (autocannon rotating 600 chains) against the raw mysql2 loop;
 *   - the guard: GET /health against GET /auth/session with 50 reused tokens and with a fresh
 *     token per request (a pool of 15,000 signed with the app's key, so the cache never hits);
 *   - the verifier on the example resource server: its unauthenticated route against the
 *     protected one, with reused and with fresh tokens.
 */
import { chainHooks, rawRotationLoop, rotationLoad } from './refresh';
import {
  CONNECTIONS,
  DURATION,
  Scenario,
  TokenResponse,
  addResourceServer,
  appSigningKey,
  bearerTokens,
  freePort,
  generateSecrets,
  load,
  median,
  mintAccessTokens,
  postJson,
  round,
  runScenario,
  seedViaLogin,
  startApp,
} from './lib';
import { SigningAlg } from '../src/common/jws';

const ALGS: SigningAlg[] = ['RS256', 'ES256', 'EdDSA'];
const POOL = Number(process.env.BENCH_TOKEN_POOL ?? 15_000);

async function measure(alg: SigningAlg, scenario: Scenario) {
  const database = await scenario.database(`jwt_${alg.toLowerCase()}`);
  const secrets = generateSecrets();
  const port = freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const app = await scenario.startApp({
    name: `jwt-${alg}`,
    database,
    secrets,
    port,
    env: { JWT_ALG: alg, JWT_ISSUER: issuer, ADMIN_EMAIL: 'alg-admin@bench.test', ADMIN_PASSWORD: 'alg admin password' },
  });
  const sessions = await seedViaLogin(app, `alg-${alg}`, 24, 25);
  const signing = await appSigningKey(database, secrets);
  if (signing.alg !== alg) throw new Error(`the app signs with ${signing.alg}, not ${alg}`);
  const fresh = await mintAccessTokens(signing, sessions, POOL, issuer);
  const reused = sessions.slice(0, CONNECTIONS).map((s) => s.access_token);
  // One cursor shared by every run: each starts at the count where the previous one stopped.
  const cursor = { next: 0 };
  const cycle = (tokens: string[]) => bearerTokens(tokens, cursor);

  const hooks = chainHooks(sessions.map((s) => s.refresh_token));
  const refresh = await rotationLoad(`${alg}: POST /auth/token`, app.url, hooks);
  if (hooks.stats.failed) throw new Error(`${alg}: ${hooks.stats.failed} refreshes failed`);
  const raw = await rawRotationLoop(
    database,
    sessions.map((s) => s.session_id),
    CONNECTIONS,
    DURATION,
  );
  const health = await load({ label: `${alg}: GET /health`, url: app.url, path: '/health' });
  const guardReused = await load({ label: `${alg}: guard, reused tokens`, url: app.url, path: '/auth/session', setupRequest: cycle(reused) });
  const guardFresh = await load({ label: `${alg}: guard, fresh tokens`, url: app.url, path: '/auth/session', setupRequest: cycle(fresh) });

  const admin = (await postJson<TokenResponse>(`${app.url}/auth/login`, { email: 'alg-admin@bench.test', password: 'alg admin password' })).body;
  const rsCredentials = await addResourceServer(app, admin.access_token, `alg-${alg}`);
  const rs = await startApp({
    name: `jwt-${alg}-rs`,
    database,
    secrets,
    script: 'dist/examples/resource-server/server.js',
    env: { LATCHKEY_URL: issuer, LATCHKEY_CLIENT_ID: rsCredentials.clientId, LATCHKEY_CLIENT_SECRET: rsCredentials.clientSecret },
  });
  const rsOpen = await load({ label: `${alg}: resource server, open route`, url: rs.url, path: '/public', setupRequest: cycle(fresh) });
  const rsReused = await load({ label: `${alg}: verifier, reused tokens`, url: rs.url, path: '/orders', setupRequest: cycle(reused) });
  const rsFresh = await load({ label: `${alg}: verifier, fresh tokens`, url: rs.url, path: '/orders', setupRequest: cycle(fresh) });
  await rs.stop();
  await app.stop();
  for (const run of [guardReused, guardFresh, rsReused, rsFresh]) if (run.non2xx) throw new Error(`${run.label}: ${run.non2xx} refused`);
  return {
    alg,
    'refresh/s': refresh.rps,
    'raw mysql2/s': raw.perSecond,
    'refresh / raw': round(refresh.rps / raw.perSecond, 2),
    'guard reused / health': round(guardReused.rps / health.rps, 2),
    'guard fresh / health': round(guardFresh.rps / health.rps, 2),
    'verifier reused / open': round(rsReused.rps / rsOpen.rps, 2),
    'verifier fresh / open': round(rsFresh.rps / rsOpen.rps, 2),
    runs: { refresh, raw, health, guardReused, guardFresh, rsOpen, rsReused, rsFresh },
  };
}

runScenario('jwt-alg', 9 * 60_000, async (scenario) => {
  const results = [];
  for (const alg of ALGS) results.push(await measure(alg, scenario));
  const rows = results.map(({ runs: _runs, ...row }) => row);
  scenario.table(`Access-token algorithm (${DURATION} s per run, ${CONNECTIONS} connections)`, rows);
  scenario.write({ rows, results, pool: POOL, medianRaw: median(results.map((r) => r['raw mysql2/s'])) });
});
