import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import type { Db } from '../database/database.service';
import type { RevokeReason } from './session.entity';
import { RevocationEvent, RevocationLogRepository } from './revocation-log.repository';
import { RevocationFanOut } from './revocation-fan-out';
import { RevocationReader } from './revocation-reader';
import { RevocationSequencer } from './revocation-sequencer';
import { RevocationTail } from './revocation-tail';

export type { RevocationEvent } from './revocation-log.repository';

/**
 * The session revocation log: every revocation, in the order it became visible, for the
 * resource-server feed (cursor = position in this log) and for every instance's registry.
 * This is what the rest of latchkey uses; it wires the parts, each in a file of its own:
 *
 * - revocation-log.repository.ts: every statement on `session_revocations` and `revocation_sequence`;
 * - revocation-sequencer.ts: positions after commit, and why no reader can skip one;
 * - revocation-tail.ts: the in-memory end of the log (epoch, head, window), its listeners and waiters;
 * - revocation-reader.ts: catching up with the database, and starting over after a restore;
 * - revocation-fan-out.ts: announcing and hearing new positions over Redis.
 *
 * Here: start (the window, the Redis subscription, the poll timer), the poll, and shutdown.
 */
@Injectable()
export class RevocationLog implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationLog.name);
  private readonly announcedListeners = new Set<(sessionIds: string[], at: number) => void>();
  private loaded?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: RevocationLogRepository,
    private readonly tail: RevocationTail,
    private readonly reader: RevocationReader,
    private readonly sequencer: RevocationSequencer,
    private readonly fanOut: RevocationFanOut,
  ) {}

  /** Changes only if the log starts over (a new or restored database); cursors carry it. */
  get epoch(): string {
    return this.tail.epoch;
  }

  /** Every position up to here is committed and in the tail (or older than the window). */
  get head(): number {
    return this.tail.head;
  }

  onModuleInit(): Promise<void> {
    return this.load();
  }

  /** Loads the epoch, the head and the window; once, however many callers ask. */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      await this.reader.readFromStart();
      this.fanOut.listen(
        (sessionIds, at) => {
          for (const listener of this.announcedListeners) listener(sessionIds, at);
        },
        (head) => {
          if (head > this.tail.head) this.catchUp().catch((error: Error) => this.logger.warn(`revocation log catch-up failed: ${error.message}`));
        },
      );
      this.timer = setInterval(() => void this.poll(), this.config.revocationPollMs);
      this.timer.unref();
    })();
    return this.loaded;
  }

  /**
   * Before the database and Redis close: this instance's own revocations get their positions
   * (and are announced over Redis), so a short-lived process (the CLI) that revoked something
   * does not leave that to the running instances' next poll.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.sequencer.settled();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.tail.wakeAll();
  }

  /** Called when the log starts over under a new epoch (a restored database): every position held so far is void. */
  onStartOver(listener: () => void): void {
    this.tail.onStartOver(listener);
  }

  /** Called with every batch of events that joins the tail, from whichever instance sequenced it. */
  onAdvance(listener: (events: RevocationEvent[]) => void): () => void {
    return this.tail.onAdvance(listener);
  }

  /** Session ids announced by another instance over Redis, before their events are read (milliseconds earlier). */
  onAnnounced(listener: (sessionIds: string[], at: number) => void): void {
    this.announcedListeners.add(listener);
  }

  /** The window's events (revoked within the last access-token lifetime), oldest position first. */
  window(now?: number): RevocationEvent[] {
    return this.tail.window(now);
  }

  /** Writes the log rows of revocations inside the revoking transaction; they get positions after commit. */
  record(rows: Array<{ id: string; userId: string }>, reason: RevokeReason, revokedAt: number, db: Db): Promise<void> {
    return this.repository.insert(rows, reason, revokedAt, db);
  }

  /** Events after position `after`, at most `limit`, oldest first; served from memory when possible. */
  async read(after: number, limit: number): Promise<RevocationEvent[]> {
    const head = this.tail.head;
    return this.tail.read(after, limit) ?? this.repository.between(after, head, limit);
  }

  /** Resolves once the head passes `after`, after `ms`, when a signal aborts, or on shutdown (RevocationTail.waitBeyond). */
  waitBeyond(after: number, ms: number, signals: AbortSignal[] = []): Promise<void> {
    return this.tail.waitBeyond(after, ms, signals);
  }

  /** After a revocation committed here: give it a position soon (coalesced), then tell everyone. */
  sequenceSoon(): void {
    this.sequencer.sequenceSoon();
  }

  /** Every poll: sequence what a crashed instance left without a position, and read what others sequenced. */
  async poll(): Promise<void> {
    try {
      if (await this.repository.hasUnsequenced()) this.sequenceSoon();
      await this.catchUp();
    } catch (error) {
      // The database may be down; the registry keeps what it has, and the next poll catches up.
      this.logger.warn(`revocation log poll failed: ${(error as Error).message}`);
    }
  }

  /** Reads every position after the head from the database (RevocationReader.catchUp). */
  catchUp(): Promise<void> {
    return this.reader.catchUp();
  }

  /** Housekeeping: one bounded batch of positioned events older than `before`. */
  deleteOlderThan(before: number, batch: number): Promise<number> {
    return this.repository.deleteOlderThan(before, batch);
  }
}
