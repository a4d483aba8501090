import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The module arrows of docs/ARCHITECTURE.md, checked on the source: a module may import only
 * from the modules listed for it (and itself). Infrastructure (common, config, database, redis)
 * sits below every feature module; nothing points back up.
 */
const ALLOWED: Record<string, string[]> = {
  common: [],
  config: ['common'],
  database: ['common', 'config'],
  redis: ['common', 'config'],
  metrics: ['common', 'config'],
  audit: ['common', 'config', 'database'],
  'rate-limit': ['common', 'config', 'redis', 'audit', 'metrics'],
  mail: ['common', 'config', 'database', 'metrics'],
  users: ['common', 'config', 'database', 'audit', 'rate-limit', 'metrics', 'mail'],
  sessions: ['common', 'config', 'database', 'redis', 'audit', 'metrics'],
  mfa: ['common', 'config', 'database', 'audit', 'rate-limit', 'users', 'sessions', 'metrics', 'mail'],
  auth: ['common', 'config', 'database', 'redis', 'audit', 'rate-limit', 'users', 'sessions', 'metrics', 'mail', 'mfa'],
  account: ['common', 'config', 'database', 'audit', 'rate-limit', 'users', 'sessions', 'auth', 'mfa', 'mail'],
  'resource-servers': ['common', 'config', 'database', 'audit', 'sessions', 'auth'],
  admin: ['common', 'config', 'database', 'audit', 'users', 'sessions', 'auth', 'resource-servers', 'account', 'mfa'],
  health: ['common', 'database'],
  telemetry: ['common', 'config'],
};
/** Composition roots: they wire everything together and may import anything. */
const ROOTS = new Set(['app.module.ts', 'bootstrap.ts', 'main.ts', 'cli']);

const SRC = resolve(__dirname, '../../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const moduleOf = (file: string) => relative(SRC, file).split(sep)[0];

describe('module arrows', () => {
  it('every import between src/ modules follows the allowed arrows', () => {
    const wrong: string[] = [];
    for (const file of sources(SRC)) {
      const from = moduleOf(file);
      if (ROOTS.has(from)) continue;
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(SRC + sep)) continue;
        const to = moduleOf(target);
        if (to === from) continue;
        // The data source registers every entity with TypeORM: the one place that may name them all.
        if (from === 'database' && /\.entity$/.test(spec)) continue;
        if (!(ALLOWED[from] ?? []).includes(to)) wrong.push(`${relative(SRC, file)} imports ${spec} (${from} → ${to})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('knows every module under src/', () => {
    const modules = new Set(readdirSync(SRC).filter((e) => statSync(join(SRC, e)).isDirectory()));
    const unknown = [...modules].filter((m) => !(m in ALLOWED) && !ROOTS.has(m));
    assert.deepEqual(unknown, [], 'a new module needs its arrows in ALLOWED and in docs/ARCHITECTURE.md');
  });
});

describe('one access-token path', () => {
  it('only the shared check (AccessTokenVerifier, on @latchkey/verifier) verifies access tokens; the signer alone signs', () => {
    const wrong: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      const name = relative(SRC, file);
      // jsonwebtoken stays only under @nestjs/jwt's signing (TokenSigner); nothing verifies with it.
      if (/from 'jsonwebtoken'|require\('jsonwebtoken'\)/.test(text)) wrong.push(`${name} imports jsonwebtoken`);
      if (/\bjwt(Service)?\.verify\(|\bjwtVerify\(/.test(text)) wrong.push(`${name} verifies a JWT itself`);
      if (/new AccessTokenCheck\(/.test(text) && name !== join('auth', 'access-token-verifier.ts')) wrong.push(`${name} builds its own AccessTokenCheck`);
      if (/\.sign\(\s*payload|signCompact\(/.test(text) && name !== join('auth', 'token-signer.ts') && name !== join('common', 'jws.ts'))
        wrong.push(`${name} signs a token itself`);
    }
    assert.deepEqual(wrong, []);
  });
});
