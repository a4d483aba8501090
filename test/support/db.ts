import type { TestApp } from './app';

/** Reads straight from the app's database, to check what a request really changed. */
export function column<T = unknown>(app: TestApp, sql: string, params: unknown[] = []): Promise<T[]> {
  return app.database.rows<T>(sql, params);
}

export async function auditCount(app: Pick<TestApp, 'database'>, type: string, filter: { sessionId?: string; userId?: string } = {}): Promise<number> {
  const where = ['type = ?'];
  const params: unknown[] = [type];
  if (filter.sessionId) (where.push('session_id = ?'), params.push(filter.sessionId));
  if (filter.userId) (where.push('user_id = ?'), params.push(filter.userId));
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
