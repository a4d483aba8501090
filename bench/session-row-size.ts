/**
 * Issue 3: storage per session is constant. One session is rotated 1,000 times through
 * POST /auth/token against the real app on MariaDB; the session row's size is measured after
 * 1 rotation and after 1,000, as the sum of the stored bytes of its columns (LENGTH of each
 * VARCHAR, 8 per BIGINT, 4 per INT), with the row counts of sessions and audit_events beside it.
 */
import { connect, generateSecrets, login, refresh, register, runScenario } from './lib';

const ROTATIONS = 1_000;

async function rowSize(database: string, sessionId: string) {
  const conn = await connect(database);
  try {
    const [cols] = (await conn.query(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'sessions' ORDER BY ORDINAL_POSITION`,
      [database],
    )) as unknown as [Array<{ name: string; type: string }>];
    const expr = cols
      .map((c) =>
        c.type === 'bigint' ? `IF(\`${c.name}\` IS NULL, 0, 8)` : c.type === 'int' ? `IF(\`${c.name}\` IS NULL, 0, 4)` : `COALESCE(LENGTH(\`${c.name}\`), 0)`,
      )
      .join(' + ');
    const [[row]] = (await conn.query(`SELECT ${expr} AS bytes, generation FROM sessions WHERE id = ?`, [sessionId])) as unknown as [
      Array<{ bytes: number; generation: number }>,
    ];
    const [[counts]] = (await conn.query(
      'SELECT (SELECT COUNT(*) FROM sessions) AS sessions, (SELECT COUNT(*) FROM audit_events) AS auditEvents',
    )) as unknown as [Array<{ sessions: number; auditEvents: number }>];
    return { generation: Number(row.generation), rowBytes: Number(row.bytes), sessionRows: Number(counts.sessions), auditRows: Number(counts.auditEvents) };
  } finally {
    await conn.end();
  }
}

runScenario('session-row-size', 3 * 60_000, async (scenario) => {
  const database = await scenario.database('rowsize');
  const app = await scenario.startApp({ name: 'rowsize-app', database, secrets: generateSecrets() });
  await register(app, 'rows@bench.test');
  const first = await login(app, 'rows@bench.test', 'row-size-device');
  let token = (await refresh(app, first.refresh_token)).refresh_token;
  const after1 = await rowSize(database, first.session_id);
  for (let i = 1; i < ROTATIONS; i++) token = (await refresh(app, token)).refresh_token;
  const after1000 = await rowSize(database, first.session_id);
  const rows = [
    { after: '1 rotation', ...after1 },
    { after: `${ROTATIONS} rotations`, ...after1000 },
  ];
  scenario.table('Session row size (bytes of column data)', rows);
  scenario.write({
    rotations: ROTATIONS,
    rows,
    constant: after1.rowBytes === after1000.rowBytes || Math.abs(after1.rowBytes - after1000.rowBytes) <= 2,
  });
});
