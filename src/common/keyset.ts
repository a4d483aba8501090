import { ApiError } from './api-error';
import { isUuid } from './ids';

/** A position in a (created_at, id) keyset: the last row of the previous page. */
export interface KeysetCursor {
  createdAt: number;
  id: string;
}

/** What a page cursor looks like on the wire (base64url), checked before it is decoded. */
export const CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;

/** Opaque to clients: base64url of `[createdAt, id]`. */
export function encodeCursor(position: KeysetCursor): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id]), 'utf8').toString('base64url');
}

/** Decodes a cursor this server issued; anything else is a 400 validation_failed. */
export function decodeCursor(raw: string | undefined): KeysetCursor | null {
  if (raw === undefined) return null;
  const invalid = () => ApiError.validation([{ field: 'cursor', message: 'cursor is not a valid page cursor' }]);
  if (!CURSOR_PATTERN.test(raw)) throw invalid();
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

/**
 * One page of a keyset walk. The caller fetched `limit + 1` rows (pageFetchSize): the extra
 * row says whether there is a next page, without a COUNT.
 */
export function keysetPage<R extends KeysetCursor, V>(rows: R[], limit: number, view: (row: R) => V): { items: V[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(view), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

export const pageFetchSize = (limit: number): number => limit + 1;
