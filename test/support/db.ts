import type { TestApp } from './app';

/** Reads straight from the app's database, to check what a request really changed. */
export function column<T = unknown>(app: TestApp, sql: string, params: unknown[] = []): Promise<T[]> {
  return app.database.rows<T>(sql, params);
}

export async function auditCount(app: Pick<TestApp, 'database'>, type: string, filter: { sessionId?: string; userId?: string } = {}): Promise<number> {
  const where = ['type = ?'];
  const params: unknown[] = [type];
  if (filter.sessionId) {
    where.push('session_id = ?');
    params.push(filter.sessionId);
  }
  if (filter.userId) {
    where.push('user_id = ?');
    params.push(filter.userId);
  }
  const rows = await app.database.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_events WHERE ${where.join(' AND ')}`, params);
  return Number(rows[0].n);
}

export interface SessionRow {
  revoked_at: unknown;
  revoked_reason: string | null;
  generation: number;
}

export async function sessionRow(app: TestApp, id: string): Promise<SessionRow> {
  const rows = await app.database.rows<SessionRow>('SELECT revoked_at, revoked_reason, generation FROM sessions WHERE id = ?', [id]);
  return rows[0];
}

/**
 * Every text column of every table, read from the database's own catalogue (sqlite_master and
 * PRAGMA table_info; information_schema on MySQL), so a table added later is covered too.
 */
export async function textColumns(app: Pick<TestApp, 'database'>): Promise<Array<{ table: string; column: string }>> {
  const database = app.database;
  if (database.sqlite) {
    const tables = await database.rows<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", []);
    const out: Array<{ table: string; column: string }> = [];
    for (const { name } of tables) {
      const columns = await database.rows<{ name: string; type: string }>(`PRAGMA table_info("${name.replace(/"/g, '""')}")`, []);
      // SQLite's type affinity: a declared type naming CHAR, CLOB or TEXT (or none at all) holds text.
      for (const c of columns) if (/char|clob|text/i.test(c.type) || c.type === '') out.push({ table: name, column: c.name });
    }
    return out;
  }
  const rows = await database.rows<{ t: string; c: string }>(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND DATA_TYPE IN ('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'json', 'enum', 'set')`,
    [],
  );
  return rows.map((r) => ({ table: r.t, column: r.c }));
}

/** Where `needle` occurs (case-insensitively, as a substring) in any text column of any table: `table.column` × rows. */
export async function occurrences(app: Pick<TestApp, 'database'>, needle: string): Promise<string[]> {
  const found: string[] = [];
  const quote = (name: string) => (app.database.sqlite ? `"${name.replace(/"/g, '""')}"` : `\`${name.replace(/`/g, '``')}\``);
  const pattern = `%${needle.replace(/[!%_]/g, (c) => `!${c}`)}%`;
  for (const { table, column } of await textColumns(app)) {
    const [row] = await app.database.rows<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${quote(table)} WHERE LOWER(${quote(column)}) LIKE LOWER(?) ESCAPE '!'`, [
      pattern,
    ]);
    if (Number(row.n) > 0) found.push(`${table}.${column} (${Number(row.n)} rows)`);
  }
  return found;
}
