/**
 * Work that runs one round at a time and never misses a call: a call while a round runs does
 * not start a second one beside it (it may already have read past what the caller has to say),
 * but gets one more round after it, shared by every call that came meanwhile, and resolves
 * when that round is done. A round returns true to go round again at once (a full batch).
 *
 * Used where "something changed, look again" arrives in bursts: the mail outbox, the revocation
 * log's sequencing and catch-up, and each revocation feed stream.
 */
export class Coalesced {
  private running?: Promise<void>;
  private next?: Promise<void>;

  constructor(private readonly round: () => Promise<boolean | void>) {}

  run(): Promise<void> {
    if (!this.running) {
      this.running = (async () => {
        while (await this.round());
      })().finally(() => (this.running = undefined));
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.run();
      });
    return this.next;
  }

  /** Resolves once no round runs or waits to run, whether they succeeded or not. */
  async settled(): Promise<void> {
    for (let pending = this.next ?? this.running; pending; pending = this.next ?? this.running) await pending.catch(() => undefined);
  }
}
