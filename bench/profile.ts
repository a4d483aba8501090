/**
 * Where the time goes: runs the app under `node --cpu-prof`, loads one path with autocannon,
 * stops the app and summarises the .cpuprofile by self time (per function and per package).
 *   node dist/bench/profile.js guard-fresh|guard-reused|refresh|login
 * Not part of `npm run bench`; writes bench/results/profile-<what>.json.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainHooks, rotationLoad } from './refresh';
import { PASSWORD, bearerTokens, generateSecrets, load, mintForSessions, round, runScenario, seedViaLogin, startApp } from './lib';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function summarise(file: string, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (!us) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/node_modules\//, '')
      .replace(/^.*\/dist\//, 'dist/');
    const fn = `${functionName || '(anonymous)'} ${where ? `${where}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const pkg = url.includes('/node_modules/')
      ? url
          .replace(/^.*\/node_modules\//, '')
          .split('/')
          .slice(0, url.replace(/^.*\/node_modules\//, '').startsWith('@') ? 2 : 1)
          .join('/')
      : url.includes('/dist/')
        ? 'latchkey (dist)'
        : url.startsWith('node:') || /^[a-z_]+$/.test(url)
          ? 'node core'
          : url === ''
            ? functionName.startsWith('(')
              ? functionName
              : 'native/V8'
            : 'other';
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: round(us / 1000, 1), pct: round((100 * us) / total, 1) }));
  return { totalMs: round(total / 1000, 0), functions: rank(byFunction), packages: rank(byPackage) };
}

const what = process.argv[2] ?? 'refresh';
runScenario(`profile-${what}`, 4 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-prof-'));
  const secrets = generateSecrets();
  // Seeding and token minting happen on an unprofiled instance; a second instance on the same
  // database, under --cpu-prof, serves only the measured load (and its own start-up).
  const algEnv: Record<string, string> = process.env.BENCH_JWT_ALG ? { JWT_ALG: process.env.BENCH_JWT_ALG } : {};
  const seeder = await scenario.startApp({ name: `profile-${what}-seeder`, database, secrets, env: algEnv });
  const sessions = await seedViaLogin(seeder, 'prof', 20, 25);
  let tokens = sessions.map((s) => s.access_token);
  if (what === 'guard-fresh') {
    // Never-repeated tokens, as in bench/guard.ts.
    tokens = await mintForSessions(database, secrets, sessions, 90_000);
  } else tokens = tokens.slice(0, 50);
  await seeder.stop();
  const app = await startApp({ name: `profile-${what}`, database, secrets, env: algEnv, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  let stopped = false;
  scenario.cleanup.push(async () => {
    if (!stopped) await app.stop();
  });
  let run;
  if (what === 'refresh') {
    const hooks = chainHooks(sessions.map((s) => s.refresh_token));
    run = await rotationLoad('profile: POST /auth/token', app.url, hooks);
  } else if (what === 'login') {
    let n = 0;
    run = await load({
      label: 'profile: POST /auth/login',
      url: app.url,
      path: '/auth/login',
      method: 'POST',
      setupRequest: (req) => ({
        ...req,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"email":"prof-${n++ % 20}@bench.test","password":"${PASSWORD}"}`,
      }),
    });
  } else {
    run = await load({ label: `profile: GET /auth/session (${what})`, url: app.url, path: '/auth/session', setupRequest: bearerTokens(tokens) });
  }
  await app.stop();
  stopped = true;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.length) throw new Error(`no .cpuprofile in ${dir}`);
  const summary = summarise(join(dir, files[0]));
  scenario.table(`Top self time, ${what} (profiled instance only: its start-up plus the load; ${summary.totalMs} ms sampled)`, summary.functions);
  scenario.table('By package', summary.packages);
  scenario.write({ what, run, profile: join(dir, files[0]), ...summary });
});
