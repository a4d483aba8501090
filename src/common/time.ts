/** API times are ISO-8601 UTC strings; the database keeps epoch milliseconds. */
export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

/**
 * How far two machines' clocks, or a commit and the clock that stamped it, may disagree.
 * Everything that forgets by time (revoked sessions, retired keys) keeps this much longer.
 */
export const SKEW_MS = 60_000;

/**
 * How long an access token issued now can still be presented anywhere: its lifetime plus the
 * skew. What exists for the sake of live tokens (a revoked session in the registry, the feed's
 * window, a retired key) is kept this long, and no longer.
 */
export const liveTokenHorizonMs = (config: { accessTokenTtl: number }): number => config.accessTokenTtl * 1000 + SKEW_MS;
