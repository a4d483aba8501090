import { QueryFailedError } from 'typeorm';

interface DriverErrorShape {
  code?: string;
  errno?: number;
  message?: string;
  driverError?: { code?: string; errno?: number };
}

/** The driver's error code (`ER_LOCK_DEADLOCK`, `SQLITE_BUSY`, `ECONNREFUSED`…), wherever TypeORM put it. */
export function driverCode(error: unknown): string | undefined {
  const e = error as DriverErrorShape | null;
  return e?.driverError?.code ?? e?.code;
}

/** What may be logged of a database error: its kind, never its SQL or bound parameters. */
const UNAVAILABLE_MESSAGES =
  /Pool is closed|Connection lost|connect ETIMEDOUT|Can't add new command when connection is in closed state|Queue limit reached|Timeout acquiring|Query inactivity timeout|database is locked|WSREP has not yet prepared node/i;

export function describeDatabaseError(error: unknown): { name?: string; code?: string; errno?: number; kind?: string } {
  const e = error as (DriverErrorShape & { name?: string }) | null;
  // The driver's own words for the code-less cases (a full pool queue, say): fixed texts that carry no parameters.
  const kind = driverCode(error) ? undefined : UNAVAILABLE_MESSAGES.exec(e?.message ?? '')?.[0];
  return { name: e?.name, code: driverCode(error), errno: e?.driverError?.errno ?? e?.errno, ...(kind ? { kind } : {}) };
}

/** Errors that mean the database is out of reach or gave up on us, as opposed to a bad statement. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_QUERY_TIMEOUT',
  'ER_STATEMENT_TIMEOUT',
  // Galera: the node is not part of the primary component (yet), or refuses queries.
  'ER_UNKNOWN_COM_ERROR',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = driverCode(error);
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  const message = (error as DriverErrorShape | null)?.message ?? '';
  return UNAVAILABLE_MESSAGES.test(message);
}

export function isUniqueViolation(error: unknown): error is QueryFailedError {
  if (!(error instanceof QueryFailedError)) return false;
  const code = driverCode(error);
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
