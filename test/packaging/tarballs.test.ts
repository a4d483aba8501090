// The published packages as someone else gets them (issue 23): `npm pack` of each workspace,
// the tarballs installed into a new project outside the repository, then used from CommonJS,
// from an ES module, from TypeScript (node16 and bundler resolution), by the example resource
// server against a running latchkey, and by esbuild bundling @latchkey/client for a browser.
// Everything runs on the Node that runs this file, so CI checks it on each supported version.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { freshDatabase, TestDatabase } from '../support/app';
import { Http, PASSWORD, Tokens, eventually, login, register, uniqueEmail } from '../support/http';
import { ServiceProcess, latchkeyProcess, resourceServerProcess } from '../support/processes';
import { addResourceServer } from '../support/resource-servers';

const ROOT = join(__dirname, '../../..');
const ADMIN_EMAIL = 'packaging-admin@example.com';
const ADMIN_PASSWORD = 'packaging admin password';
const WORKSPACES = ['@latchkey/verifier', '@latchkey/client'];

interface Packed {
  name: string;
  version: string;
  filename: string;
  files: { path: string }[];
}

const installedVersion = (name: string): string => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
const manifest = (dir: string) => JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8'));

/** `node <file>` in the consumer project, on the Node running this test; its stdout. */
function nodeIn(cwd: string, file: string): string {
  return execFileSync(process.execPath, [file], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tsc(cwd: string, project: string): void {
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    assert.fail(`tsc -p ${project} failed in the consumer project:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('the workspace packages, packed and installed into a new project', () => {
  let dir: string;
  let packed: Packed[];

  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'latchkey-packaging-')));
    // --ignore-scripts: `npm test` has just built dist/ (prepack would build it again).
    const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir, ...WORKSPACES.flatMap((w) => ['-w', w])], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    packed = JSON.parse(out);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'latchkey-consumer', version: '1.0.0', private: true }, null, 2));
    // fastify and @types/node are what the example resource server needs; the versions the
    // repository has installed, so npm finds them in its cache.
    execFileSync(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        ...packed.map((p) => `./${p.filename}`),
        `fastify@${installedVersion('fastify')}`,
        `@types/node@${installedVersion('@types/node')}`,
      ],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('each tarball holds its entry points, changelog, readme and licence, and no tests or sources of tests', () => {
    assert.deepEqual(packed.map((p) => p.name).sort(), [...WORKSPACES].sort());
    for (const p of packed) {
      const pkg = manifest(p.name.split('/')[1]);
      assert.equal(p.version, pkg.version);
      const files = p.files.map((f) => f.path);
      const targets = [pkg.main, pkg.types, ...JSON.stringify(pkg.exports).match(/\.\/[^"]+/g)!].map((t: string) => t.replace(/^\.\//, ''));
      for (const t of [...targets, 'package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'])
        assert.ok(files.includes(t), `${p.name}: ${t} is not in the tarball`);
      assert.deepEqual(
        files.filter((f) => /(^|\/)(test|test-support)\//.test(f) || f.endsWith('.tsbuildinfo')),
        [],
        `${p.name} ships tests`,
      );
      assert.equal(pkg.publishConfig?.access, 'public', `${p.name}: publishConfig.access`);
    }
  });

  it('installs as copies in node_modules, not links to the repository', () => {
    for (const name of WORKSPACES) assert.ok(realpathSync(join(dir, 'node_modules', name)).startsWith(dir), `${name} resolves into the repository`);
  });

  it('a CommonJS service requires @latchkey/verifier (and gets the same module as `import`)', () => {
    writeFileSync(
      join(dir, 'consumer.cjs'),
      `const v = require('@latchkey/verifier');
       if (typeof v.createVerifier !== 'function' || typeof v.latchkeyExpress !== 'function') throw new Error('missing exports');
       if (!(new v.InvalidTokenError('x') instanceof v.VerifierError)) throw new Error('error classes');
       import('@latchkey/verifier').then((m) => {
         if (m.createVerifier !== v.createVerifier || m.VerifierError !== v.VerifierError) throw new Error('two copies of the verifier');
         console.log(JSON.stringify({ resolved: require.resolve('@latchkey/verifier'), names: Object.keys(v).filter((n) => n !== '__esModule').sort() }));
       });`,
    );
    const { resolved, names } = JSON.parse(nodeIn(dir, 'consumer.cjs'));
    assert.ok(resolved.startsWith(join(dir, 'node_modules/@latchkey/verifier/')), resolved);
    assert.ok(names.includes('createVerifier') && names.includes('LatchkeyGuard'), names.join());
  });

  it('an ES module imports every export of @latchkey/verifier by name', () => {
    writeFileSync(
      join(dir, 'consumer.mjs'),
      `import * as esm from '@latchkey/verifier';
       import { createVerifier, SESSION_REVOKED } from '@latchkey/verifier';
       import { createRequire } from 'node:module';
       const cjs = createRequire(import.meta.url)('@latchkey/verifier');
       const missing = Object.keys(cjs).filter((n) => n !== '__esModule' && !(n in esm));
       if (missing.length) throw new Error('not exported to ES modules: ' + missing);
       if (typeof createVerifier !== 'function' || typeof SESSION_REVOKED !== 'string') throw new Error('named imports');
       console.log(import.meta.resolve('@latchkey/verifier'));`,
    );
    assert.match(nodeIn(dir, 'consumer.mjs').trim(), /node_modules\/@latchkey\/verifier\/dist\/esm\/index\.mjs$/);
  });

  it('@latchkey/client loads as an ES module (and through require(esm))', () => {
    writeFileSync(join(dir, 'client.mjs'), `import { createClient } from '@latchkey/client'; console.log(typeof createClient);`);
    writeFileSync(join(dir, 'client.cjs'), `console.log(typeof require('@latchkey/client').createClient);`);
    assert.equal(nodeIn(dir, 'client.mjs').trim(), 'function');
    assert.equal(nodeIn(dir, 'client.cjs').trim(), 'function');
  });

  it('TypeScript finds the types: node16 (ESM and CommonJS files) and bundler resolution', () => {
    const strict = { strict: true, noEmit: true, skipLibCheck: false, types: ['node'], lib: ['ES2022', 'DOM'], target: 'ES2022' };
    writeFileSync(
      join(dir, 'esm.mts'),
      `import { createVerifier, VerifierError, type AccessTokenClaims, type Verifier } from '@latchkey/verifier';
       import { createClient } from '@latchkey/client';
       const v: Verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'latchkey', clientId: 'a', clientSecret: 'b' });
       const sub: AccessTokenClaims['sub'] = 'x';
       export const used = [v, sub, VerifierError, createClient] as const;
       // @ts-expect-error: a name the package does not export
       import { notExported } from '@latchkey/verifier';`,
    );
    writeFileSync(
      join(dir, 'cjs.cts'),
      `import verifier = require('@latchkey/verifier');
       const v: verifier.Verifier = verifier.createVerifier({ issuer: 'https://auth.example.com', audience: 'latchkey', clientId: 'a', clientSecret: 'b' });
       export = v;`,
    );
    writeFileSync(
      join(dir, 'tsconfig.node16.json'),
      JSON.stringify({ compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' }, files: ['esm.mts', 'cjs.cts'] }),
    );
    tsc(dir, 'tsconfig.node16.json');
    writeFileSync(
      join(dir, 'app.ts'),
      `import { createClient } from '@latchkey/client';
       import type { AccessTokenClaims } from '@latchkey/verifier';
       export const client = createClient({ mode: 'dpop', deviceName: 'Web app' });
       export type Claims = AccessTokenClaims;
       // @ts-expect-error: createClient has no such option
       createClient({ nonsense: true });`,
    );
    writeFileSync(
      join(dir, 'tsconfig.bundler.json'),
      JSON.stringify({ compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler' }, files: ['app.ts'] }),
    );
    tsc(dir, 'tsconfig.bundler.json');
  });

  it('esbuild bundles `import { createClient } from "@latchkey/client"` for the browser', async () => {
    const result = await build({
      stdin: {
        contents: `import { createClient } from '@latchkey/client';\nexport const client = createClient({ mode: 'cookie' });\n`,
        resolveDir: dir,
        loader: 'ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      write: false,
      metafile: true,
      absWorkingDir: dir,
      logLevel: 'silent',
    });
    assert.deepEqual(result.errors, []);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.includes('node_modules/@latchkey/client/dist/latchkey-client.js'), inputs.join());
    assert.ok(result.outputFiles[0].text.length > 1000);
  });

  describe('the example resource server, compiled against the installed package', () => {
    let db: TestDatabase;
    let latchkey: ServiceProcess;
    let rs: ServiceProcess;
    let http: Http;

    before(async () => {
      copyFileSync(join(ROOT, 'examples/resource-server/server.ts'), join(dir, 'server.ts'));
      writeFileSync(
        join(dir, 'tsconfig.example.json'),
        JSON.stringify({
          compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', types: ['node'], skipLibCheck: true, outDir: 'out' },
          files: ['server.ts'],
        }),
      );
      tsc(dir, 'tsconfig.example.json');
      db = freshDatabase();
      latchkey = await (await latchkeyProcess(db, { ADMIN_EMAIL, ADMIN_PASSWORD })).start();
      http = new Http(latchkey.url);
      const admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
      rs = await (
        await resourceServerProcess(latchkey.url, await addResourceServer(http, admin.access_token, 'packaging-api'), {}, join(dir, 'out/server.js'))
      ).start();
    });
    after(async () => {
      await rs?.stop();
      await latchkey?.stop();
      await db?.drop();
    });

    const orders = async (token?: string) => (await fetch(`${rs.url}/orders`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status;

    it('accepts a valid access token, refuses none, and refuses the token once its session is revoked', async () => {
      const user = await register(http, uniqueEmail('packaging'));
      const tokens: Tokens = await login(http, user.email, PASSWORD);
      assert.equal(await orders(tokens.access_token), 200);
      assert.equal(await orders(), 401);
      assert.equal((await http.post('/auth/logout', undefined, { token: tokens.access_token })).status, 204);
      await eventually(async () => (await orders(tokens.access_token)) === 401, 15_000, 20).catch(() =>
        assert.fail(`the installed example still accepts a revoked session's token\n${rs.output.slice(-2000)}`),
      );
    });
  });
});
