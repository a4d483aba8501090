import { ApiError } from '../common/api-error';
import { isUuid } from '../common/ids';

/** A position in a (created_at, id) keyset: the last row of the previous page. */
export interface KeysetCursor {
  createdAt: number;
  id: string;
}

/** Opaque to clients: base64url of `[createdAt, id]`. */
export function encodeCursor(position: KeysetCursor): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id]), 'utf8').toString('base64url');
}

/** Decodes a cursor this server issued; anything else is a 400 validation_failed. */
export function decodeCursor(raw: string | undefined): KeysetCursor | null {
  if (raw === undefined) return null;
  const invalid = () => ApiError.validation([{ field: 'cursor', message: 'cursor is not a valid page cursor' }]);
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(raw)) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(value) || value.length !== 2) throw invalid();
  const [createdAt, id] = value as [unknown, unknown];
  if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt < 0 || !isUuid(id)) throw invalid();
  return { createdAt, id };
}

/** Escapes LIKE's wildcards for the `ESCAPE '!'` clause: %, _ and the escape character itself. */
export function likeContains(text: string): string {
  return `%${text.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}
