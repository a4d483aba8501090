// `npm test`: every suite, in order: lint, unit, the workspace packages (packages/verifier, and any
// other with a dist/test of its own), packaging (the workspaces packed, installed into a new
// project and used from CommonJS, ESM, TypeScript, esbuild and the example), e2e on SQLite, e2e on
// MariaDB/MySQL, e2e on a Galera cluster, browser. A missing MySQL or Chromium is announced loudly and skips only that
// suite, unless REQUIRE_MYSQL=1 / REQUIRE_BROWSER=1 (set by .ci/run), which turn the skip into a
// failure. Pass suite names to run a subset: `npm test -- unit e2e-sqlite`.
// The unit suite includes the service tests (test/service/: one service, its repositories
// in memory, no database, no network); `npm test -- service` runs those alone.
// An e2e file named *.mysql.test.ts or *.sqlite.test.ts is a scenario of that database only
// (a network outage, a file lock) and runs in that suite alone; every other e2e file runs in both.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const requested = process.argv.slice(2);
const wants = (name) => requested.length === 0 || requested.includes(name);

console.log(`npm test on Node ${process.version} (${process.execPath})`);
const build = spawnSync(process.execPath, ['scripts/build-if-needed.mjs', '--all'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const mysqlUrl = new URL(process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306');
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
mkdirSync('test-output', { recursive: true });

function files(dir, only = () => true) {
  const full = join(dir.startsWith('packages/') ? '' : 'dist/test', dir);
  if (!existsSync(full)) return [];
  return readdirSync(full)
    .filter((f) => f.endsWith('.test.js') && only(f))
    .sort()
    .map((f) => join(full, f));
}

const e2eFor = (db) => files('e2e', (f) => !/\.(mysql|sqlite)\.test\.js$/.test(f) || f.endsWith(`.${db}.test.js`));
const workspaces = existsSync('packages')
  ? readdirSync('packages')
      .filter((p) => existsSync(join('packages', p, 'package.json')))
      .sort()
  : [];

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  console.log(`\n${bar}\n${lines.map((l) => `! ${l.padEnd(width - 4)} !`).join('\n')}\n${bar}\n`);
}

async function mysqlAnswers() {
  return new Promise((resolve) => {
    const socket = createConnection({ host: mysqlUrl.hostname, port: Number(mysqlUrl.port || 3306) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('data', () => done(true)); // the server greets first
    socket.once('error', () => done(false));
  });
}

const totals = { pass: 0, fail: 0, skipped: 0 };
const failedSuites = [];

function runSuite(name, testFiles, env = {}) {
  if (testFiles.length === 0) {
    console.log(`\n== ${name}: no test files`);
    return;
  }
  console.log(`\n== ${name} (${testFiles.length} files)`);
  const tap = join('test-output', `${name}.tap`);
  const result = spawnSync(
    process.execPath,
    [
      '--test',
      '--test-concurrency=1',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...testFiles,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  totals.pass += count('pass');
  totals.fail += count('fail');
  totals.skipped += count('skipped');
  if (result.status !== 0) failedSuites.push(name);
}

// The lint gate (eslint.config.mjs, type-aware; Prettier): `npm run format` fixes most of what it finds.
if (wants('lint')) {
  console.log('\n== lint (eslint, prettier --check)');
  const bin = (pkg, path) => join(root, 'node_modules', pkg, path);
  const eslint = spawnSync(process.execPath, [bin('eslint', 'bin/eslint.js'), '.'], { stdio: 'inherit' });
  const prettier = spawnSync(process.execPath, [bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level', 'warn', '.'], { stdio: 'inherit' });
  if (eslint.status !== 0 || prettier.status !== 0) failedSuites.push('lint');
}

if (wants('unit')) runSuite('unit', [...files('unit'), ...files('service')]);
else if (requested.includes('service')) runSuite('service', files('service'));
if (wants('packages'))
  runSuite(
    'packages',
    workspaces.flatMap((p) => files(`packages/${p}/dist/test`)),
  );
if (wants('packaging')) runSuite('packaging', files('packaging'), { TEST_DB: 'sqlite' });
if (wants('e2e-sqlite')) runSuite('e2e-sqlite', e2eFor('sqlite'), { TEST_DB: 'sqlite' });

if (wants('e2e-mysql')) {
  if (await mysqlAnswers()) {
    runSuite('e2e-mysql', e2eFor('mysql'), { TEST_DB: 'mysql' });
  } else if (process.env.REQUIRE_MYSQL === '1') {
    banner([`MySQL/MariaDB does not answer at ${mysqlUrl.host}, and REQUIRE_MYSQL=1.`, 'The MySQL e2e suite cannot run: FAILING.']);
    failedSuites.push('e2e-mysql (no database)');
  } else {
    banner([
      `SKIPPING the MySQL e2e suite: nothing answers at ${mysqlUrl.host}.`,
      'Start MariaDB (or set TEST_MYSQL_URL) to run it; REQUIRE_MYSQL=1 makes this fatal.',
    ]);
    totals.skipped += e2eFor('mysql').length;
  }
}

// The multi-primary suite (issue 14): latchkey instances on two nodes of the 3-node Galera
// cluster that `scripts/galera.sh start` runs on 127.0.0.1:3311-3313. The test file itself
// skips loudly without a cluster, and fails instead under REQUIRE_GALERA=1.
if (wants('galera')) runSuite('galera', files('galera'));

if (wants('browser')) {
  if (existsSync(chromium)) {
    runSuite('browser', files('browser'), { CHROMIUM_PATH: chromium });
  } else if (process.env.REQUIRE_BROWSER === '1') {
    banner([`Chromium is not at ${chromium}, and REQUIRE_BROWSER=1.`, 'The browser suite cannot run: FAILING.']);
    failedSuites.push('browser (no chromium)');
  } else {
    banner([
      `SKIPPING the browser suite: no Chromium at ${chromium}.`,
      'Install it (apt-get install -y chromium) to run it; REQUIRE_BROWSER=1 makes this fatal.',
    ]);
    totals.skipped += files('browser').length;
  }
}

console.log(`\nsuites failed: ${failedSuites.length ? failedSuites.join(', ') : 'none'}`);
console.log(`tests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(failedSuites.length || totals.fail ? 1 : 0);
