// Runs a command under another Node.js version, leaving the machine's Node untouched:
//   node scripts/with-node.mjs 24 -- npm test -- unit
//   node scripts/with-node.mjs 22.23.5 -- node -v
// The version is exact, or a major picked from .ci/node-versions (the versions CI tests).
//
// Node binaries come from the npm registry, not nodejs.org: the platform package
// node-<platform>-<arch>@<version> (what the `node` package installs) holds bin/node and the
// headers (include/node). It is fetched once with `npm pack` (so npm checks its integrity and
// caches it) and unpacked into .ci/node/<version>/ (gitignored).
//
// The one native module built per Node ABI is better-sqlite3 (@node-rs/argon2 is N-API, one
// binary for every version). Before the command runs, the binding for that Node's ABI is put in
// place: from .ci/node/bindings/ when it was built before, else rebuilt from source against the
// headers of that Node (--nodedir, so node-gyp downloads nothing; build-from-source, so
// prebuild-install does not try GitHub) and kept. Afterwards the binding of the machine's Node is
// put back, so a plain `npm test` keeps working. Don't run the machine's Node on this checkout at
// the same time.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cache = join(root, '.ci', 'node');
const sqlite = join(root, 'node_modules', 'better-sqlite3');
const binding = join(sqlite, 'build', 'Release', 'better_sqlite3.node');

const fail = (message) => {
  process.stderr.write(`with-node: ${message}\n`);
  process.exit(2);
};

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) fail(`${command}: ${result.error.message}`);
  return result.status ?? 1;
}

export function testedVersions() {
  return readFileSync(join(root, '.ci', 'node-versions'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

function resolveVersion(wanted) {
  const v = wanted.replace(/^v/, '');
  if (/^\d+\.\d+\.\d+$/.test(v)) return v;
  if (!/^\d+$/.test(v)) fail(`"${wanted}" is neither a version (24.11.1) nor a major (24)`);
  const found = testedVersions().find((t) => t.split('.')[0] === v);
  if (!found) fail(`no Node ${v} in .ci/node-versions`);
  return found;
}

/** The directory of that Node (bin/node, include/node), fetched from the registry when missing. */
export function nodeDir(version) {
  const dir = join(cache, version);
  if (existsSync(join(dir, 'bin', 'node')) && existsSync(join(dir, 'include', 'node', 'node.h'))) return dir;
  const pkg = `node-${process.platform}-${process.arch}`;
  const tmp = join(cache, `.download-${version}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  process.stderr.write(`with-node: fetching ${pkg}@${version} from the npm registry\n`);
  const packed = spawnSync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--silent'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (packed.status !== 0) fail(`npm pack ${pkg}@${version} failed`);
  const tarball = join(tmp, packed.stdout.trim().split('\n').pop());
  if (run('tar', ['xzf', tarball, '-C', tmp]) !== 0) fail(`cannot unpack ${tarball}`);
  const reported = spawnSync(join(tmp, 'package', 'bin', 'node'), ['-v'], { encoding: 'utf8' }).stdout?.trim();
  if (reported !== `v${version}`) fail(`${pkg}@${version} holds a Node that says "${reported}"`);
  if (!existsSync(join(tmp, 'package', 'include', 'node', 'node.h'))) fail(`${pkg}@${version} has no include/node: cannot build native modules for it`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(join(tmp, 'package'), dir);
  rmSync(tmp, { recursive: true, force: true });
  return dir;
}

const abiOf = (node) => spawnSync(node, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout.trim();
const sqliteVersion = () => JSON.parse(readFileSync(join(sqlite, 'package.json'), 'utf8')).version;
const keptBinding = (abi) => join(cache, 'bindings', `better-sqlite3-${sqliteVersion()}-abi${abi}-${process.platform}-${process.arch}.node`);
const loads = (node) => spawnSync(node, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], { cwd: root, stdio: 'ignore' }).status === 0;

function keep(abi) {
  mkdirSync(join(cache, 'bindings'), { recursive: true });
  copyFileSync(binding, keptBinding(abi));
}

/** Puts the better-sqlite3 binding for the Node in `dir` in place (kept copy, or a rebuild). */
function useBinding(dir) {
  const node = join(dir, 'bin', 'node');
  const abi = abiOf(node);
  if (existsSync(keptBinding(abi))) copyFileSync(keptBinding(abi), binding);
  if (existsSync(binding) && loads(node)) return;
  process.stderr.write(`with-node: building better-sqlite3 for Node ABI ${abi}\n`);
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: dir, npm_config_build_from_source: 'true' };
  if (run('npm', ['rebuild', 'better-sqlite3', '--no-audit', '--no-fund'], { cwd: root, env }) !== 0 || !loads(node))
    fail(`could not build better-sqlite3 for Node ${dir}`);
  keep(abi);
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const args = process.argv.slice(2);
  const dash = args.indexOf('--');
  if (args.length < 3 || dash !== 1) fail('usage: node scripts/with-node.mjs <version|major> -- <command> [args…]');
  const dir = nodeDir(resolveVersion(args[0]));
  const home = process.versions.modules;
  // The machine's binding is kept first, so it can be put back afterwards.
  if (existsSync(sqlite) && !existsSync(keptBinding(home)) && existsSync(binding) && loads(process.execPath)) keep(home);
  if (existsSync(sqlite)) useBinding(dir);
  const restore = () => {
    if (existsSync(keptBinding(home))) copyFileSync(keptBinding(home), binding);
  };
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => {}); // the child gets it too; restore once it ends
  const status = run(args[2], args.slice(3), { cwd: process.cwd(), env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
  restore();
  process.exit(status);
}
