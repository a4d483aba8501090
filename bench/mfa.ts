/**
 * Second factors. (a) The login's second step, POST /auth/mfa/verify with a TOTP code, against
 * a password login, POST /auth/login, at the same concurrency: the second step hashes no
 * password, so it should cost a fraction of a login (target ≤ 0.2× a login's time). Each
 * mfaToken and each TOTP step works once, so every verify request gets an mfaToken of its own
 * (prepared by a first step beforehand) and the code of its user's next step; both runs make the
 * same number of requests (autocannon `amount`), from devices their users signed in on before
 * (no new-device mail on either side). Besides the rate at equal concurrency, the app process's
 * CPU time per request (/proc, every thread: argon2's workers too) is compared: on a shared
 * machine it moves much less with the neighbours' load than wall-clock rates do. (b) The guard with the v3 assurance claims (acr,
 * amr, auth_time) against tokens without them, on GET /auth/session: tokens reused, and a fresh
 * token each request. Ratios are taken within each round; the rounds alternate.
 */
import { Secret, TOTP } from 'otpauth';
import {
  CONNECTIONS,
  LoadSummary,
  PASSWORD,
  appSigningKey,
  bearerTokens,
  cpuSeconds,
  generateSecrets,
  load,
  log,
  login,
  median,
  mintAccessTokens,
  parallel,
  postJson,
  register,
  registerUsers,
  round,
  roundMedians,
  runScenario,
} from './lib';

const ROUNDS = Number(process.env.BENCH_MFA_ROUNDS ?? 3);
/** Second steps per round (each needs a user with a factor and a first step). */
const VERIFIES = Number(process.env.BENCH_MFA_VERIFIES ?? 150);
const VERIFY_CONNECTIONS = 10;
const POOL = Number(process.env.BENCH_TOKEN_POOL ?? 60_000);

const code = (secret: string, at: number) => TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp: at });

async function json<T>(url: string, method: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

runScenario('mfa', 8 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const secrets = generateSecrets();
  const app = await scenario.startApp({ name: 'mfa-app', database, secrets, env: { MFA_LOCKOUT: 'off' } });

  // Users with an authenticator app (one per second step of every round), and users without.
  const total = VERIFIES * ROUNDS;
  log(`enrolling ${total} users with TOTP`);
  const enrolled = await parallel(total, 6, async (i) => {
    const email = `mfa-${i}@bench.test`;
    await register(app, email);
    const t = await login(app, email, `mfa-device-${i}`);
    const added = await json<{ id: string; secret: string }>(`${app.url}/me/factors/totp`, 'POST', t.access_token, {});
    const verified = await json(`${app.url}/me/factors/${added.body.id}/verify`, 'POST', t.access_token, { code: code(added.body.secret, Date.now()) });
    if (verified.status !== 200) throw new Error(`enrolment: ${verified.status} ${JSON.stringify(verified.body)}`);
    return { email, secret: added.body.secret };
  });
  const plainEmails = await registerUsers(app, 'mfa-plain', 50, 6);
  // The password logins' users, each with a device it signed in on before.
  const loginEmails = Array.from({ length: VERIFY_CONNECTIONS * 2 }, (_, i) => `mfa-login-${i}@bench.test`);
  await parallel(loginEmails.length, 6, async (i) => (await register(app, loginEmails[i]), await login(app, loginEmails[i], `login-device-${i}`)));

  // Guard pools: the same sessions, tokens with and without the assurance claims.
  const sessions = await parallel(CONNECTIONS, 6, (i) => login(app, plainEmails[i % plainEmails.length], `guard-device-${i}`));
  const me = await Promise.all(
    sessions.map((s) =>
      fetch(`${app.url}/auth/session`, { headers: { authorization: `Bearer ${s.access_token}` } }).then((r) => r.json() as Promise<{ userId: string }>),
    ),
  );
  const users = me.map((m) => m.userId);
  const signing = await appSigningKey(database, secrets);
  // Each session's own user as `sub` (login answers carry no user object).
  const owned = sessions.map((s, i) => ({ session_id: s.session_id, user: { id: users[i] } }));
  const withClaims = await mintAccessTokens(signing, owned, POOL, undefined, (iat) => ({ acr: 'aal2', amr: ['pwd', 'otp', 'mfa'], auth_time: iat }));
  const withoutClaims = await mintAccessTokens(signing, owned, POOL);
  for (const token of [withClaims[0], withoutClaims[0]]) {
    const r = await fetch(`${app.url}/auth/session`, { headers: { authorization: `Bearer ${token}` } });
    if (r.status !== 200) throw new Error(`a minted token is refused: ${r.status}`);
  }
  const freshFrom = (pool: string[], start: number) => bearerTokens(pool, { next: start });

  const rounds: Array<Record<string, LoadSummary>> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const batch = enrolled.slice(r * VERIFIES, (r + 1) * VERIFIES);
    log(`round ${r + 1}: ${VERIFIES} first steps`);
    const pending = await parallel(batch.length, 6, async (i) => {
      const step = await postJson<{ mfaToken: string }>(`${app.url}/auth/login`, {
        email: batch[i].email,
        password: PASSWORD,
        deviceId: `mfa-device-${r * VERIFIES + i}`,
      });
      if (!step.body?.mfaToken) throw new Error(`first step: ${step.status} ${JSON.stringify(step.body)}`);
      return { mfaToken: step.body.mfaToken, secret: batch[i].secret };
    });
    let v = 0;
    const verifyRequest = (req: Record<string, unknown>) => {
      const p = pending[v++ % pending.length];
      // The next step's code: inside the ±1 window, and after the step the enrolment used.
      return {
        ...req,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mfaToken: p.mfaToken, method: 'totp', code: code(p.secret, Date.now() + 30_000) }),
      };
    };
    let l = 0;
    const loginRequest = (req: Record<string, unknown>) => {
      const i = l++ % loginEmails.length;
      return {
        ...req,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: loginEmails[i], password: PASSWORD, deviceId: `login-device-${i}` }),
      };
    };
    /** A run, and the app's CPU seconds per request during it. */
    const measured = async (run: () => Promise<LoadSummary>): Promise<LoadSummary & { cpuMsPerRequest: number }> => {
      const before = cpuSeconds(app.pid);
      const summary = await run();
      return { ...summary, cpuMsPerRequest: round(((cpuSeconds(app.pid) - before) * 1000) / Math.max(summary.total, 1), 2) };
    };
    const runVerify = () =>
      measured(() =>
        load({
          label: `r${r + 1} POST /auth/mfa/verify (TOTP)`,
          url: app.url,
          path: '/auth/mfa/verify',
          method: 'POST',
          connections: VERIFY_CONNECTIONS,
          amount: VERIFIES,
          setupRequest: verifyRequest,
        }),
      );
    const runLogin = () =>
      measured(() =>
        load({
          label: `r${r + 1} POST /auth/login (password)`,
          url: app.url,
          path: '/auth/login',
          method: 'POST',
          connections: VERIFY_CONNECTIONS,
          amount: VERIFIES,
          setupRequest: loginRequest,
        }),
      );
    // Alternating which goes first, so that a drift in the neighbours' load favours neither.
    const [verify, passwordLogin] =
      r % 2 === 0
        ? [await runVerify(), await runLogin()]
        : await (async () => {
            const l2 = await runLogin();
            return [await runVerify(), l2];
          })();
    log(`r${r + 1} app CPU per request: verify ${verify.cpuMsPerRequest} ms, login ${passwordLogin.cpuMsPerRequest} ms`);
    for (const s of [verify, passwordLogin]) if (s.non2xx > 0) throw new Error(`${s.label}: ${s.non2xx} answers were not 2xx (${JSON.stringify(s.statuses)})`);

    const guardRuns = {
      reusedWith: () =>
        load({
          label: `r${r + 1} GET /auth/session, acr/amr tokens reused`,
          url: app.url,
          path: '/auth/session',
          setupRequest: bearerTokens(withClaims.slice(0, CONNECTIONS)),
        }),
      reusedWithout: () =>
        load({
          label: `r${r + 1} GET /auth/session, tokens without acr/amr reused`,
          url: app.url,
          path: '/auth/session',
          setupRequest: bearerTokens(withoutClaims.slice(0, CONNECTIONS)),
        }),
      freshWith: () =>
        load({
          label: `r${r + 1} GET /auth/session, fresh acr/amr token each request`,
          url: app.url,
          path: '/auth/session',
          setupRequest: freshFrom(withClaims, CONNECTIONS + r * (POOL / ROUNDS)),
        }),
      freshWithout: () =>
        load({
          label: `r${r + 1} GET /auth/session, fresh token without acr/amr each request`,
          url: app.url,
          path: '/auth/session',
          setupRequest: freshFrom(withoutClaims, CONNECTIONS + r * (POOL / ROUNDS)),
        }),
    };
    // Alternating the order here too: the first run of a pair was the slower one in every round otherwise.
    const order =
      r % 2 === 0
        ? (['reusedWith', 'reusedWithout', 'freshWith', 'freshWithout'] as const)
        : (['reusedWithout', 'reusedWith', 'freshWithout', 'freshWith'] as const);
    const guard: Record<string, LoadSummary> = {};
    for (const key of order) guard[key] = await guardRuns[key]();
    const { reusedWith, reusedWithout, freshWith, freshWithout } = guard;
    for (const s of [reusedWith, reusedWithout, freshWith, freshWithout]) if (s.non2xx > 0) throw new Error(`${s.label}: ${s.non2xx} non-2xx`);
    rounds.push({ verify, passwordLogin, reusedWith, reusedWithout, freshWith, freshWithout });
  }

  const { rps: med, rpsRatio: ratioMed } = roundMedians(rounds);
  // Time per request at equal concurrency is connections / rate: the verify's share of a login's time.
  const cpu = (key: string) => median(rounds.map((r) => (r[key] as LoadSummary & { cpuMsPerRequest: number }).cpuMsPerRequest));
  const ratios = {
    verifyTimeVsLoginTime: { value: ratioMed('passwordLogin', 'verify'), target: 0.2, direction: '<=' },
    verifyCpuVsLoginCpu: {
      value: round(
        median(
          rounds.map(
            (r) =>
              (r.verify as LoadSummary & { cpuMsPerRequest: number }).cpuMsPerRequest /
              (r.passwordLogin as LoadSummary & { cpuMsPerRequest: number }).cpuMsPerRequest,
          ),
        ),
        3,
      ),
      target: 0.2,
      direction: '<=',
    },
    guardReusedWithClaimsVsWithout: { value: ratioMed('reusedWith', 'reusedWithout'), target: 0.97, direction: '>=' },
    guardFreshWithClaimsVsWithout: { value: ratioMed('freshWith', 'freshWithout'), target: 0.97, direction: '>=' },
  };
  const table = [
    {
      run: `POST /auth/mfa/verify, TOTP (${VERIFY_CONNECTIONS} connections)`,
      'req/s (median)': med('verify'),
      'p50 ms': median(rounds.map((r) => r.verify.p50)),
      'app CPU ms/request': cpu('verify'),
    },
    {
      run: `POST /auth/login, password (${VERIFY_CONNECTIONS} connections)`,
      'req/s (median)': med('passwordLogin'),
      'p50 ms': median(rounds.map((r) => r.passwordLogin.p50)),
      'app CPU ms/request': cpu('passwordLogin'),
    },
    { run: 'GET /auth/session, acr/amr tokens reused', 'req/s (median)': med('reusedWith'), 'p50 ms': '' },
    { run: 'GET /auth/session, tokens without them reused', 'req/s (median)': med('reusedWithout'), 'p50 ms': '' },
    { run: 'GET /auth/session, fresh acr/amr token', 'req/s (median)': med('freshWith'), 'p50 ms': '' },
    { run: 'GET /auth/session, fresh token without them', 'req/s (median)': med('freshWithout'), 'p50 ms': '' },
  ];
  scenario.table(`Second factors (${ROUNDS} rounds, ${VERIFIES} second steps per round)`, table);
  scenario.ratios('Ratios', ratios);
  scenario.write({
    verifies: VERIFIES,
    verifyConnections: VERIFY_CONNECTIONS,
    connections: CONNECTIONS,
    rounds: ROUNDS,
    medians: table,
    ratios,
    runs: rounds,
  });
});
