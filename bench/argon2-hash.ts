/**
 * Issue 2: the median time of one argon2id hash with the app's parameters (ARGON2_OPTIONS,
 * src/users/password.service.ts), one at a time, in process.  npm run bench:argon2
 */
import { hash } from '@node-rs/argon2';
import { ARGON2_OPTIONS } from '../src/users/password.service';
import { median, printTable, round, writeResult } from './lib';

const RUNS = Number(process.env.BENCH_ARGON2_RUNS ?? 40);

async function main(): Promise<void> {
  for (let i = 0; i < 3; i++) await hash(`warm-up-${i}`, ARGON2_OPTIONS);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    await hash(`correct horse battery ${i}`, ARGON2_OPTIONS);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const row = {
    runs: RUNS,
    medianMs: round(median(times), 2),
    p10Ms: round(sorted[Math.floor(RUNS * 0.1)], 2),
    p90Ms: round(sorted[Math.floor(RUNS * 0.9)], 2),
    memoryCostKiB: ARGON2_OPTIONS.memoryCost,
    timeCost: ARGON2_OPTIONS.timeCost,
    parallelism: ARGON2_OPTIONS.parallelism,
  };
  printTable('argon2id hash, one at a time (@node-rs/argon2)', [row]);
  writeResult('argon2-hash', { library: '@node-rs/argon2', ...row });
}

void main();
