// Copies the dashboard's static files (HTML, CSS) next to the compiled code.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const from = join(root, 'src/admin/dashboard/static');
const to = join(root, 'dist/src/admin/dashboard/static');
if (existsSync(from)) {
  mkdirSync(to, { recursive: true });
  cpSync(from, to, { recursive: true });
}
