// Rebuilds dist/ only when a TypeScript source is newer than the last build,
// so `npm start` stays one command without paying for tsc on every start.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const stamp = join(root, 'dist', '.build-stamp');
const sources = ['src', 'test', 'bench', 'ormconfig.ts', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.dashboard.json', 'package.json'];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    max = Math.max(max, newest(join(path, entry)));
  }
  return max;
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changed = Math.max(...sources.map((s) => newest(join(root, s))));
if (changed > built || process.argv.includes('--force')) {
  process.stderr.write('latchkey: building…\n');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  // The dashboard's browser modules: a separate program (DOM, ES modules), see tsconfig.dashboard.json.
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.dashboard.json')], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts/copy-assets.mjs')], { stdio: 'inherit' });
  writeFileSync(stamp, new Date().toISOString());
}
