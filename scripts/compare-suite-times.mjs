// Times the test files two checkouts have in common, suite by suite, run the way scripts/test.mjs
// runs a suite, the two trees alternating so that drift in the machine's load falls on both:
//   git worktree add /tmp/before <rev> && (cd /tmp/before && npm ci && node scripts/build-if-needed.mjs --all)
//   node scripts/build-if-needed.mjs --all && node scripts/compare-suite-times.mjs /tmp/before [unit e2e-sqlite e2e-mysql browser]
// One JSON line per suite and tree: seconds, tests, pass, fail, and the load average at its end.
// Whole suites are not like for like when a change adds tests; the files both trees have are.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

const [base, ...only] = process.argv.slice(2);
if (!base || !existsSync(resolve(base, 'dist/test'))) {
  process.stderr.write('usage: node scripts/compare-suite-times.mjs <built checkout to compare with> [suite ...]\n');
  process.exit(2);
}
const trees = { before: resolve(base), after: resolve(new URL('..', import.meta.url).pathname) };
const list = (tree, dir) => (existsSync(`${tree}/dist/test/${dir}`) ? readdirSync(`${tree}/dist/test/${dir}`).filter((f) => f.endsWith('.test.js')) : []);
const common = (dir) =>
  list(trees.before, dir)
    .filter((f) => list(trees.after, dir).includes(f))
    .sort();
const forDb = (db) => (f) => !/\.(mysql|sqlite)\.test\.js$/.test(f) || f.endsWith(`.${db}.test.js`);
const suites = [
  ['unit', 'unit', common('unit'), {}],
  ['e2e-sqlite', 'e2e', common('e2e').filter(forDb('sqlite')), { TEST_DB: 'sqlite' }],
  ['e2e-mysql', 'e2e', common('e2e').filter(forDb('mysql')), { TEST_DB: 'mysql' }],
  ['browser', 'browser', common('browser'), { CHROMIUM_PATH: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' }],
];
for (const [name, dir, files, env] of suites) {
  if (only.length && !only.includes(name)) continue;
  for (const [which, tree] of Object.entries(trees)) {
    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...files.map((f) => `dist/test/${dir}/${f}`)], {
      cwd: tree,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(run.stdout)?.[1] ?? -1);
    const failed = [...run.stdout.matchAll(/^not ok \d+ - (.*)$/gm)].map((m) => m[1]);
    console.log(
      JSON.stringify({
        suite: name,
        tree: which,
        files: files.length,
        seconds: Number(seconds.toFixed(1)),
        tests: count('tests'),
        pass: count('pass'),
        fail: count('fail'),
        ...(failed.length ? { failed } : {}),
        load: Number(loadavg()[0].toFixed(2)),
      }),
    );
  }
}
