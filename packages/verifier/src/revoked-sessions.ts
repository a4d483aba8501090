/**
 * Session ids revoked recently enough that one of their access tokens may still be valid.
 *
 * An entry is kept until every token of its session has expired: revocation time + the longest
 * token lifetime + clock allowance (`retentionMs`, which may grow while the verifier runs, so it
 * is applied when reading rather than stored per entry). Memory is therefore bounded by the
 * revocation rate over one token lifetime, not by how long the service runs: about 100 bytes per
 * entry with latchkey's 36-character UUIDs, measured (see README, "Guarantees").
 */
export class RevokedSessions {
  /** session id → revocation time in ms (the latest one seen). */
  private readonly revokedAt = new Map<string, number>();

  constructor(
    private readonly now: () => number,
    private readonly retentionMs: () => number,
  ) {}

  add(sessionId: string, revokedAtMs: number): void {
    if (revokedAtMs + this.retentionMs() <= this.now()) return;
    const known = this.revokedAt.get(sessionId);
    if (known === undefined || known < revokedAtMs) this.revokedAt.set(sessionId, revokedAtMs);
  }

  has(sessionId: string): boolean {
    const at = this.revokedAt.get(sessionId);
    if (at === undefined) return false;
    if (at + this.retentionMs() > this.now()) return true;
    this.revokedAt.delete(sessionId);
    return false;
  }

  /** Drops every entry whose tokens have all expired; returns how many are left. */
  sweep(): number {
    const oldest = this.now() - this.retentionMs();
    for (const [id, at] of this.revokedAt) if (at <= oldest) this.revokedAt.delete(id);
    return this.revokedAt.size;
  }

  get size(): number {
    return this.revokedAt.size;
  }
}
