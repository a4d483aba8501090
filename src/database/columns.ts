import { ValueTransformer } from 'typeorm';

/**
 * Times are stored as epoch milliseconds in BIGINT columns: one representation that MySQL,
 * MariaDB and SQLite compare the same way, with no time-zone conversion in any driver.
 */
export const epochMs: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? null : Number(value)),
};

/**
 * A number column as a raw statement returns it: MySQL may give a BIGINT (or a COUNT, a SUM) as
 * text, and a boolean is a 0/1 integer everywhere. Row interfaces say so; the repository maps.
 */
export type Numeric = number | string;

/** A nullable number column, read. */
export const numberOrNull = (v: Numeric | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

/** A nullable 0/1 column, read. */
export const flagOrNull = (v: Numeric | boolean | null | undefined): boolean | null => (v === null || v === undefined ? null : Boolean(Number(v)));
