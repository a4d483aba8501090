/**
 * Issue 10: memory of @latchkey/verifier holding 100,000 revoked sessions, in the structure
 * that holds them (RevokedSessions), filled with ids parsed from JSON as the feed's SETs deliver
 * them (so the verifier holds the only copy of each id string). Run with --expose-gc.
 */
import { uuidv7 } from '../src/common/ids';
import { RevokedSessions } from '@latchkey/verifier/dist/src/revoked-sessions';
import { printTable, round, writeResult } from './lib';

const COUNT = 100_000;

/** Full collections across a few turns of the event loop: some garbage is only freed after a turn. */
async function settle(): Promise<void> {
  const gc = (global as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 6; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function main(): Promise<void> {
  const now = Date.now();
  const revoked = new RevokedSessions(
    () => now,
    () => 15 * 60_000 + 65_000,
  );
  const serialized = JSON.stringify(Array.from({ length: COUNT }, () => uuidv7()));
  await settle();
  const before = process.memoryUsage().heapUsed;
  let ids: string[] | null = JSON.parse(serialized) as string[];
  for (const id of ids) revoked.add(id, now);
  // Dropped before the measurement, so the parsed array is garbage and only the set is counted.
  // eslint-disable-next-line no-useless-assignment
  ids = null;
  await settle();
  const used = process.memoryUsage().heapUsed - before;
  if (revoked.size !== COUNT) throw new Error(`holds ${revoked.size}, expected ${COUNT}`);
  const row = { sessions: COUNT, heapMiB: round(used / 1024 / 1024, 1), bytesPerSession: round(used / COUNT, 0) };
  printTable('Verifier memory for revoked sessions (heapUsed delta)', [row]);
  writeResult('verifier-memory', row);
}

void main();
