/**
 * Passkey sign-in against password sign-in, on one app process (MariaDB). Each passkey login
 * needs fresh options (a server-side challenge, single use), so autocannon's fixed requests
 * cannot drive it: both kinds run as the same closed loop instead, CONCURRENCY clients for
 * DURATION seconds each, one after the other. A password login is one request (argon2id
 * verify); a passkey login is two (POST /auth/passkey/options, then /auth/passkey/login with an
 * ES256 assertion from the software authenticator of test/support/webauthn.ts, signed in this
 * process, outside the app). Reported: logins/s, latency of a whole login, the app's CPU per
 * login, and passkey over password as ratios.
 */
import { SoftwareAuthenticator } from '../test/support/webauthn';
import { DURATION, PASSWORD, WARMUP, cpuSeconds, generateSecrets, log, login, postJson, register, round, runScenario } from './lib';

const CONCURRENCY = Number(process.env.BENCH_PASSKEY_CONCURRENCY ?? 4);
/** The software authenticator speaks for this origin; the app is told to expect it. */
const ORIGIN = 'http://localhost:3000';

interface LoopResult {
  logins: number;
  failures: number;
  seconds: number;
  latenciesMs: number[];
  cpuS: number;
}

async function closedLoop(pid: number, seconds: number, once: (worker: number) => Promise<boolean>): Promise<LoopResult> {
  const latenciesMs: number[] = [];
  let logins = 0;
  let failures = 0;
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (performance.now() < until) {
        const t0 = performance.now();
        if (await once(worker)) {
          logins++;
          latenciesMs.push(performance.now() - t0);
        } else failures++;
      }
    }),
  );
  return { logins, failures, seconds: (performance.now() - started) / 1000, latenciesMs, cpuS: cpuSeconds(pid) - cpuBefore };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(kind: string, r: LoopResult) {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    kind,
    'logins/s': round(r.logins / r.seconds, 1),
    'p50 ms': round(percentile(sorted, 50), 1),
    'p99 ms': round(percentile(sorted, 99), 1),
    'app CPU ms/login': round((r.cpuS * 1000) / Math.max(r.logins, 1), 2),
    logins: r.logins,
    failures: r.failures,
  };
}

runScenario('passkeys', 4 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const app = await scenario.startApp({
    name: 'passkeys-app',
    database,
    secrets: generateSecrets(),
    env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: ORIGIN },
  });

  // A password user (a password login of a user with a factor would stop at mfaRequired), and a
  // passkey user per client: one authenticator does one ceremony at a time, and two concurrent
  // assertions of one credential race on its counter (the later count may land first, and then
  // the earlier one is refused as a counter that went backwards, as it should be).
  const passwordUser = 'password@bench.test';
  await register(app, passwordUser);
  const devices: SoftwareAuthenticator[] = [];
  for (let worker = 0; worker < CONCURRENCY; worker++) {
    const email = `passkey-${worker}@bench.test`;
    await register(app, email);
    const auth = { authorization: `Bearer ${(await login(app, email)).access_token}` };
    const device = new SoftwareAuthenticator({ origin: ORIGIN });
    const options = await postJson<{ publicKey: never }>(`${app.url}/me/factors/passkey/options`, {}, auth);
    if (options.status !== 200) throw new Error(`passkey options: ${options.status} ${JSON.stringify(options.body)}`);
    const added = await postJson(`${app.url}/me/factors/passkey`, { credential: device.register(options.body.publicKey), name: 'bench' }, auth);
    if (added.status !== 201) throw new Error(`add passkey: ${added.status} ${JSON.stringify(added.body)}`);
    devices.push(device);
  }

  const passwordLogin = async (worker: number) =>
    (await postJson(`${app.url}/auth/login`, { email: passwordUser, password: PASSWORD, deviceId: `bench-password-${worker}` })).status === 200;
  const passkeyLogin = async (worker: number) => {
    const o = await postJson<{ publicKey: never }>(`${app.url}/auth/passkey/options`, {});
    if (o.status !== 200) return false;
    const r = await postJson(`${app.url}/auth/passkey/login`, {
      credential: devices[worker].authenticate(o.body.publicKey),
      deviceId: `bench-passkey-${worker}`,
    });
    return r.status === 200;
  };

  if (WARMUP > 0) {
    await closedLoop(app.pid, WARMUP, passwordLogin);
    await closedLoop(app.pid, WARMUP, passkeyLogin);
  }
  log(`passkeys: ${CONCURRENCY} clients, ${DURATION} s each`);
  const password = summary('password', await closedLoop(app.pid, DURATION, passwordLogin));
  const passkey = summary('passkey', await closedLoop(app.pid, DURATION, passkeyLogin));
  const ratio = {
    'throughput passkey / password': round(passkey['logins/s'] / password['logins/s'], 2),
    'p50 passkey / password': round(passkey['p50 ms'] / password['p50 ms'], 2),
    'CPU per login passkey / password': round(passkey['app CPU ms/login'] / password['app CPU ms/login'], 2),
  };
  scenario.table(`Passkey vs password sign-in (${CONCURRENCY} clients, ${DURATION} s each)`, [password, passkey]);
  scenario.table('Ratios', [ratio]);
  if (password.failures > 0 || passkey.failures > 0) throw new Error('some logins failed; see the table');
  scenario.write({ concurrency: CONCURRENCY, durationS: DURATION, rows: [password, passkey], ratio });
});
