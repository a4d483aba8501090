/** API times are ISO-8601 UTC strings; the database keeps epoch milliseconds. */
export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

/**
 * How far two machines' clocks, or a commit and the clock that stamped it, may disagree.
 * Everything that forgets by time (revoked sessions, retired keys) keeps this much longer.
 */
export const SKEW_MS = 60_000;
