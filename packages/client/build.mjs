// The browser bundle: one ES module with no dependencies, plain and minified.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
for (const minify of [false, true]) {
  const outfile = join(here, 'dist', minify ? 'latchkey-client.min.js' : 'latchkey-client.js');
  await build({
    entryPoints: [join(here, 'src/index.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify,
    outfile,
    logLevel: 'warning',
  });
  if (minify && process.env.LATCHKEY_BUILD_QUIET !== '1') {
    // The figure the README gives: minified, and gzipped as a server would send it.
    const code = readFileSync(outfile);
    process.stderr.write(`@latchkey/client: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} gzipped\n`);
  }
}
