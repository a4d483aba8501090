/**
 * The refresh chain's rules written as plainly as they can be: a model that the pure rule
 * (refresh-decision.ts) and the real SessionsService on a real database are both checked
 * against, on generated interleavings (fast-check).
 */
export interface ModelChain {
  generation: number;
  rotatedAt: number | null;
  revoked: boolean;
  expiresAt: number;
  idleExpiresAt: number;
}

export type Expected = { ok: true; generation: number } | { ok: false };

export function modelChain(now: number, ttlMs: number, idleMs: number): ModelChain {
  return { generation: 0, rotatedAt: null, revoked: false, expiresAt: now + ttlMs, idleExpiresAt: now + idleMs };
}

/** One refresh with the link of `generation` at `now`; updates the model like the service updates its row. */
export function step(s: ModelChain, generation: number, now: number, rules: { graceMs: number; idleMs: number }): Expected {
  if (s.revoked) return { ok: false };
  if (now >= s.expiresAt || now >= s.idleExpiresAt) return { ok: false };
  if (generation === s.generation) {
    s.generation += 1;
    s.rotatedAt = now;
    s.idleExpiresAt = Math.min(now + rules.idleMs, s.expiresAt);
    return { ok: true, generation: s.generation };
  }
  if (generation === s.generation - 1 && s.rotatedAt !== null && now - s.rotatedAt <= rules.graceMs) return { ok: true, generation: s.generation };
  // Any older authentic link is a replay: the session dies.
  s.revoked = true;
  return { ok: false };
}
