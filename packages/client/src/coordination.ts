/** What tabs tell each other. */
export type TabMessage =
  { type: 'tokens' } | { type: 'ended'; reason: SessionEndReason } | { type: 'claim'; id: string; at: number } | { type: 'release'; id: string };

export type SessionEndReason = 'logout' | 'revoked' | 'key_lost';

/**
 * Mutual exclusion between the tabs of one origin. The Web Locks API where there is one;
 * otherwise an election over BroadcastChannel: a tab claims, waits a moment for older claims,
 * and holds the lock if none came; a holder that vanishes is presumed gone after `leaseMs`.
 * The fallback is best effort (two tabs that claim within the same moment, each unaware of the
 * other, could both win); latchkey's grace window makes even that harmless, only wasteful.
 */
export class TabLock {
  private readonly id = crypto.randomUUID();
  private readonly claims = new Map<string, number>();
  private waiting: Array<() => void> = [];

  constructor(
    private readonly name: string,
    private readonly channel: BroadcastChannel | null,
    private readonly leaseMs = 10_000,
  ) {}

  /** Called with every message of the channel. */
  heard(message: TabMessage): void {
    if (message.type === 'claim') this.claims.set(message.id, message.at);
    if (message.type === 'release') {
      this.claims.delete(message.id);
      for (const wake of this.waiting.splice(0)) wake();
    }
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (typeof navigator !== 'undefined' && navigator.locks) return navigator.locks.request(this.name, work);
    if (!this.channel) return work();
    for (;;) {
      const at = Date.now();
      this.channel.postMessage({ type: 'claim', id: this.id, at } satisfies TabMessage);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const older = [...this.claims].filter(([id, t]) => id !== this.id && at - t < this.leaseMs && (t < at || (t === at && id < this.id)));
      if (older.length === 0) break;
      // Lost: withdraw the claim, so that it does not hold up the winner's successors.
      this.channel.postMessage({ type: 'release', id: this.id } satisfies TabMessage);
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        setTimeout(resolve, 250);
      });
    }
    try {
      return await work();
    } finally {
      this.channel.postMessage({ type: 'release', id: this.id } satisfies TabMessage);
    }
  }
}
