import type { DatabaseService } from './database.service';

/** Which rows one housekeeping batch may delete: `key` identifies a row of `table`; `where` binds `params`. */
export interface BatchedDelete {
  table: string;
  key: string;
  where: string;
  params: unknown[];
  /** Oldest first, when the order matters (the audit log goes by age). */
  orderBy?: string;
}

/**
 * Housekeeping's one deletion: up to `batch` rows matching `where`, by their keys. Two statements
 * rather than DELETE … LIMIT, which SQLite builds usually lack: the keys first (a plain read, no
 * locks held meanwhile), then a DELETE by primary key that locks only those rows. `inBatches`
 * (common/batches.ts) repeats it until a batch comes back short. Table, key and clauses are the
 * repository's constants; only `params` and `batch` vary, and `params` are bound.
 */
export async function deleteBatch(database: DatabaseService, target: BatchedDelete, batch: number): Promise<number> {
  const { table, key, where, params, orderBy } = target;
  const rows = await database.rows<Record<string, string>>(
    `SELECT ${key} FROM ${table} WHERE ${where}${orderBy ? ` ORDER BY ${orderBy}` : ''} LIMIT ${Math.max(1, Math.floor(batch))}`,
    params,
  );
  if (rows.length === 0) return 0;
  return database.exec(
    `DELETE FROM ${table} WHERE ${key} IN (${rows.map(() => '?').join(', ')})`,
    rows.map((r) => r[key]),
  );
}
