// The browser bundle: one ES module with no dependencies, plain and minified.
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
for (const minify of [false, true]) {
  const outfile = join(here, 'dist', minify ? 'latchkey-client.min.js' : 'latchkey-client.js');
  await build({ entryPoints: [join(here, 'src/index.ts')], bundle: true, format: 'esm', target: 'es2022', platform: 'browser', minify, outfile, logLevel: 'warning' });
  if (minify && process.env.LATCHKEY_BUILD_QUIET !== '1') process.stderr.write(`@latchkey/client: ${statSync(outfile).size} bytes minified\n`);
}
