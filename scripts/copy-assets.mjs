// Copies the browser pages' static files (HTML, CSS) next to the compiled code.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
for (const dir of ['src/admin/dashboard/static', 'src/account/pages/static']) {
  const from = join(root, dir);
  const to = join(root, 'dist', dir);
  if (existsSync(from)) {
    mkdirSync(to, { recursive: true });
    cpSync(from, to, { recursive: true });
  }
}
