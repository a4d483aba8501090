import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, sqliteFiles } from '../../src/config/config';
import { ConfigError } from '../../src/config/parse';
import { openDatabase } from '../../src/database/database.module';

// Runs in the e2e-sqlite suite only (the .sqlite.test name): the embedded database's files on disk.

const modeOf = (file: string) => statSync(file).mode & 0o777;

describe('the embedded database files are for their owner only', () => {
  it('creates the database, its -wal and its -shm 0600 under a umask that would leave them world-readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-dbfiles-'));
    const umask = process.umask(0o022);
    try {
      const { dataSource } = await openDatabase(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }));
      try {
        await dataSource.query('SELECT count(*) FROM users');
        for (const file of sqliteFiles(dir)) {
          assert.ok(existsSync(file), `${file} exists while the database is open`);
          assert.equal(modeOf(file).toString(8), '600', file);
        }
      } finally {
        await dataSource.destroy();
      }
    } finally {
      process.umask(umask);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start when the database, a leftover -wal or -shm is readable by group or others, naming the file and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-dbfiles-mode-'));
    try {
      loadConfig({ DATA_DIR: dir }); // the secrets, so that only the database files are in question
      for (const file of sqliteFiles(dir)) {
        writeFileSync(file, '', { mode: 0o600 });
        for (const mode of [0o640, 0o604, 0o644]) {
          chmodSync(file, mode);
          assert.throws(
            () => loadConfig({ DATA_DIR: dir }),
            (e: unknown) => e instanceof ConfigError && e.variable === 'DATA_DIR' && e.message.includes(file) && e.message.includes(`chmod 600 ${file}`),
            `${file} at mode ${mode.toString(8)}`,
          );
        }
        chmodSync(file, 0o600);
        assert.doesNotThrow(() => loadConfig({ DATA_DIR: dir }), `${file} at 0600`);
      }
      assert.doesNotThrow(
        () => loadConfig({ DATA_DIR: dir, DATABASE_URL: 'mysql://root@127.0.0.1:3306/latchkey' }),
        'with MySQL the embedded files play no part',
      );

      // The real process: EX_CONFIG, as for secrets.json, before anything is opened.
      const [database, wal] = sqliteFiles(dir);
      rmSync(wal);
      chmodSync(database, 0o644);
      const { DATABASE_URL: _d, REFRESH_TOKEN_KEYS: _r, KEY_ENCRYPTION_KEY: _k, NODE_ENV: _n, ...inherited } = process.env;
      const run = spawnSync(process.execPath, [join(__dirname, '../../src/main.js')], {
        env: { ...inherited, DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 78, `exit code (stderr: ${run.stderr})`);
      assert.ok(run.stderr.includes(`configuration error: DATA_DIR: ${database} to be readable by its owner only`), run.stderr);
      assert.equal(existsSync(wal), false, 'the database was not opened');
      assert.equal(modeOf(database), 0o644, 'and left as it was');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
