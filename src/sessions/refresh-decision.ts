/** What a refresh decides needs of a session row, read in the same statement as the user's standing. */
export interface ChainState {
  generation: number;
  /** When the chain last moved forward; null before its first rotation. */
  rotatedAt: number | null;
  revokedAt: number | null;
  userDisabled: boolean;
  expiresAt: number;
  idleExpiresAt: number;
  /** The generation at which the session's assurance was last raised (step-up, first factor). */
  assuranceGeneration: number;
}

/**
 * The refresh rules, given an authentic link (its MAC already checked) and the chain as read:
 * - `rotate`: the current link; move the chain forward with a compare-and-swap.
 * - `grace`: the link just before the current one, rotated within the grace window: a
 *   concurrent tab or a retry; answer with the current link again (idempotent).
 * - `replay`: any older link: theft; the whole session is revoked.
 * - `superseded`: the link just before the current one, within the grace window, but from
 *   before the session's assurance was raised (a step-up rotated the chain): re-minting the
 *   current link for it would hand the raised assurance to whoever holds the older link. Refused;
 *   nothing changes.
 * - `revoked`, `expired`: the session no longer works.
 * - `ahead`: a generation the chain has not reached. It cannot have been signed yet, so this
 *   read is stale (a replica or a Galera node that has not applied the rotation): re-read
 *   causally before calling it invalid.
 */
export type RefreshDecision = 'rotate' | 'grace' | 'superseded' | 'replay' | 'revoked' | 'expired' | 'ahead';

/**
 * Whether a request may act on a session with its refresh token: an unbound session, or a
 * DPoP-bound one whose key the request proved (`provenJkt`, null without a proof). Refresh and
 * RFC 7009 revocation both ask, so that a copied token can neither move a bound chain nor end it.
 */
export function keyIsProven(boundJkt: string | null, provenJkt: string | null): boolean {
  return boundJkt === null || boundJkt === provenJkt;
}

export function decideRefresh(chain: ChainState, presented: number, now: number, graceMs: number): RefreshDecision {
  if (chain.revokedAt !== null || chain.userDisabled) return 'revoked';
  if (now >= chain.expiresAt || now >= chain.idleExpiresAt) return 'expired';
  if (presented === chain.generation) return 'rotate';
  if (presented > chain.generation) return 'ahead';
  if (presented === chain.generation - 1 && chain.rotatedAt !== null && now - chain.rotatedAt <= graceMs)
    return presented < chain.assuranceGeneration ? 'superseded' : 'grace';
  return 'replay';
}
