import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { liveTokenHorizonMs } from '../common/time';
import type { RevocationEvent } from './revocation-log.repository';

/** Events kept in memory at most, whatever the revocation rate; older reads go to the database. */
const MAX_TAIL = 200_000;

/**
 * This instance's copy of the end of the revocation log: the epoch, the head (every position up
 * to it is committed and here, or older than the window) and the events of the last access-token
 * lifetime (bounded), so any number of feed receivers and the registry read them without a
 * query each. It does no I/O: the sequencer and the reader feed it, and it tells its listeners
 * and wakes its waiters when it moves.
 */
@Injectable()
export class RevocationTail {
  private readonly logger = new Logger('RevocationLog');
  /** Changes only if the log starts over (a new or restored database); cursors carry it. */
  epoch = '';
  head = 0;
  private events: RevocationEvent[] = [];
  private readonly listeners = new Set<(events: RevocationEvent[]) => void>();
  private readonly startOverListeners = new Set<() => void>();
  private readonly waiters = new Set<() => void>();
  readonly windowMs: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.windowMs = liveTokenHorizonMs(config);
  }

  /** Replaces everything: the log as read from its start (at load, or after a start-over). */
  reset(epoch: string, head: number, window: RevocationEvent[]): void {
    this.events = window;
    this.epoch = epoch;
    this.head = head;
  }

  /** Called with every batch of events that joins the tail, from whichever instance sequenced it. */
  onAdvance(listener: (events: RevocationEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called when the log starts over under a new epoch (a restored database): every position held so far is void. */
  onStartOver(listener: () => void): void {
    this.startOverListeners.add(listener);
  }

  startedOver(): void {
    for (const listener of this.startOverListeners) listener();
    this.wakeAll();
  }

  /** The window's events (revoked within the last access-token lifetime), oldest position first. */
  window(now = this.clock.now()): RevocationEvent[] {
    const start = now - this.windowMs;
    return this.events.filter((e) => e.revokedAt >= start);
  }

  /** Events after position `after`, at most `limit`, when the tail still holds them; null when older. */
  read(after: number, limit: number): RevocationEvent[] | null {
    const first = this.events[0]?.seq ?? this.head + 1;
    if (after < first - 1) return null;
    // Every feed stream reads here on every advance: a binary search, not a scan of the window.
    const from = firstAfter(this.events, after);
    return this.events.slice(from, from + limit);
  }

  /** Appends contiguous events, trims the tail, moves the head and tells listeners and waiters. */
  advance(events: RevocationEvent[]): void {
    const fresh = events.filter((e) => e.seq > this.head);
    if (fresh.length === 0) return;
    this.events.push(...fresh);
    this.head = fresh[fresh.length - 1].seq;
    const start = this.clock.now() - this.windowMs;
    let drop = 0;
    while (drop < this.events.length && (this.events[drop].revokedAt < start || this.events.length - drop > MAX_TAIL)) drop++;
    if (drop) this.events = this.events.slice(drop);
    for (const listener of this.listeners) {
      try {
        listener(fresh);
      } catch (error) {
        this.logger.warn(`revocation listener failed: ${(error as Error).message}`);
      }
    }
    this.wakeAll();
  }

  /**
   * Resolves once the head passes `after`, after `ms`, when a signal aborts, or on shutdown,
   * whichever comes first. Several signals rather than one AbortSignal.any: a composite stays
   * registered on a long-lived source signal (the application's) after the wait, one per call.
   */
  waitBeyond(after: number, ms: number, signals: AbortSignal[] = []): Promise<void> {
    if (this.head > after || ms <= 0 || signals.some((s) => s.aborted)) return Promise.resolve();
    const epoch = this.epoch;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        for (const signal of signals) signal.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (this.head > after || this.epoch !== epoch) done();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(check);
      for (const signal of signals) signal.addEventListener('abort', done);
    });
  }

  /** Every waiter looks again (each resolves if its condition holds); on shutdown, a start-over, an advance. */
  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

/** The index of the first event whose position is past `after` (the tail is in position order). */
function firstAfter(tail: RevocationEvent[], after: number): number {
  let low = 0;
  let high = tail.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (tail[middle].seq > after) high = middle;
    else low = middle + 1;
  }
  return low;
}
