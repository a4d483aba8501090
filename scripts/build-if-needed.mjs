// Builds dist/ only when a source is newer than the last build, so `npm start` stays one
// command without paying for tsc on every start.
//   node scripts/build-if-needed.mjs          what `npm start` and the CLI need: the workspace
//                                             packages, src/ (tsconfig.build.json), the dashboard
//   node scripts/build-if-needed.mjs --all    also test/, bench/ and examples/ (tsconfig.json): `npm test`, `npm run bench`
//   --force                                   build even if nothing changed
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const all = process.argv.includes('--all');
const stamp = join(root, 'dist', all ? '.build-stamp-all' : '.build-stamp');
const sources = [
  'src',
  'test',
  'bench',
  'examples',
  'packages',
  'ormconfig.ts',
  'tsconfig.json',
  'tsconfig.build.json',
  'tsconfig.dashboard.json',
  'package.json',
];
const SKIP = new Set(['node_modules', 'dist']);

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) if (!SKIP.has(entry)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const tsc = (project) => execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, project)], { stdio: 'inherit' });

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changed = Math.max(...sources.map((s) => newest(join(root, s))));
if (changed > built || process.argv.includes('--force')) {
  process.stderr.write('latchkey: building…\n');
  // The workspace packages first: the server, its tests and the example import them.
  const packages = existsSync(join(root, 'packages')) ? readdirSync(join(root, 'packages')).sort() : [];
  for (const p of packages) if (existsSync(join(root, 'packages', p, 'tsconfig.json'))) tsc(`packages/${p}/tsconfig.json`);
  for (const p of packages)
    if (existsSync(join(root, 'packages', p, 'build.mjs'))) execFileSync(process.execPath, [join(root, 'packages', p, 'build.mjs')], { stdio: 'inherit' });
  tsc(all ? 'tsconfig.json' : 'tsconfig.build.json');
  // The browser pages (the dashboard, the account pages): type-checked as browser programs
  // (tsconfig.dashboard.json), then each bundled into one module.
  tsc('tsconfig.dashboard.json');
  const { build } = await import('esbuild');
  for (const [entry, outfile] of [
    ['src/admin/dashboard/client/main.ts', 'dist/src/admin/dashboard/static/js/main.js'],
    ['src/account/pages/client/account.ts', 'dist/src/account/pages/static/js/account.js'],
    ['src/account/pages/client/security.ts', 'dist/src/account/pages/static/js/security.js'],
  ]) {
    rmSync(join(root, outfile), { force: true });
    await build({ entryPoints: [join(root, entry)], bundle: true, format: 'esm', target: 'es2022', outfile: join(root, outfile), logLevel: 'warning' });
  }
  execFileSync(process.execPath, [join(root, 'scripts/copy-assets.mjs')], { stdio: 'inherit' });
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(stamp, new Date().toISOString());
}
