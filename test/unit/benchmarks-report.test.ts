import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');

/** docs/BENCHMARKS.md without its "Where and when" table, whose library versions are read from node_modules when the report is made. */
function withoutVersions(doc: string): string {
  return doc.replace(/## Where and when\n[\s\S]*?\nMethod:/, '## Where and when\n\nMethod:');
}

/**
 * docs/BENCHMARKS.md is what `npm run bench:report` makes of bench/results/, bench/sections/ and
 * bench/NOTES.md: a section written into the document alone would be lost at the next report.
 */
describe('docs/BENCHMARKS.md', () => {
  it('is what the report generator writes, charts included', () => {
    const out = mkdtempSync(join(tmpdir(), 'latchkey-report-'));
    try {
      execFileSync(process.execPath, [join(ROOT, 'dist/bench/report.js')], { env: { ...process.env, BENCH_REPORT_DIR: out }, stdio: 'pipe' });
      const committed = readFileSync(join(ROOT, 'docs/BENCHMARKS.md'), 'utf8');
      const generated = readFileSync(join(out, 'BENCHMARKS.md'), 'utf8');
      const headings = (doc: string) => doc.split('\n').filter((line) => line.startsWith('## '));
      assert.deepEqual(headings(generated), headings(committed), 'the same sections in the same order');
      assert.equal(withoutVersions(generated), withoutVersions(committed));
      for (const chart of readdirSync(out).filter((f) => f.endsWith('.svg')))
        assert.equal(readFileSync(join(out, chart), 'utf8'), readFileSync(join(ROOT, 'docs', chart), 'utf8'), chart);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
