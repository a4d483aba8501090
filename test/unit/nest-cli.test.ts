import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
const json = <T>(file: string): T => JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as T;

/**
 * nest-cli.json is for the Nest CLI (`npx @nestjs/cli build`, `start --watch`, `generate`), which the
 * repository does not install: the build is scripts/build-if-needed.mjs. Checked by hand with
 * @nestjs/cli 11 (`nest build` wrote dist/src/main.js, `nest start` served /health); this keeps the
 * file pointing where `npm start` runs, so it cannot drift into a second, broken build.
 */
describe('nest-cli.json', () => {
  const cli = json<{ sourceRoot: string; entryFile: string; compilerOptions: { tsConfigPath: string } }>('nest-cli.json');

  it('builds with a tsconfig that compiles src/ into the outDir npm start runs from', () => {
    const tsconfigPath = cli.compilerOptions.tsConfigPath;
    assert.ok(existsSync(join(ROOT, tsconfigPath)), `${tsconfigPath} exists`);
    const build = json<{ extends?: string; include: string[] }>(tsconfigPath);
    assert.ok(build.include.includes(`${cli.sourceRoot}/**/*.ts`), `${tsconfigPath} compiles ${cli.sourceRoot}/`);
    const base = json<{ compilerOptions: { outDir: string; rootDir: string } }>(build.extends ?? tsconfigPath);
    const start = json<{ scripts: { start: string } }>('package.json').scripts.start;
    assert.equal(start, `node ${base.compilerOptions.outDir}/${cli.entryFile}.js`, 'nest start and npm start run the same file');
    assert.equal(base.compilerOptions.rootDir, '.', 'src/ keeps its own folder under the outDir, as entryFile says');
  });
});
