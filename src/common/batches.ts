/** Rows deleted per statement, so no housekeeping statement holds a long lock. */
export const HOUSEKEEPING_BATCH = 1000;
/** Upper bound of one run, so a backlog is worked off over several runs rather than in one long burst. */
const MAX_BATCHES = 200;

/** Calls `deleteBatch(size)` until it deletes fewer than `size` rows (or MAX_BATCHES ran); the total deleted. */
export async function inBatches(deleteBatch: (size: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await deleteBatch(HOUSEKEEPING_BATCH);
    total += n;
    if (n < HOUSEKEEPING_BATCH) break;
  }
  return total;
}
