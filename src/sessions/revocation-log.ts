import { randomBytes } from 'node:crypto';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { liveTokenHorizonMs } from '../common/time';
import { Clock } from '../common/clock';
import { Coalesced } from '../common/coalesced';
import { Db, DatabaseService } from '../database/database.service';
import { RedisService } from '../redis/redis.service';
import type { RevokeReason } from './session.entity';

/** One revoked session, at its place in the log. */
export interface RevocationEvent {
  seq: number;
  sessionId: string;
  userId: string;
  reason: RevokeReason;
  revokedAt: number;
}

/** Prefixed with REDIS_KEY_PREFIX: the sequenced revocations, for the other instances. */
export const REVOCATIONS_CHANNEL = 'revocations';
/** Rows one sequencing transaction takes at most; a backlog is worked off in several. */
const SEQUENCE_BATCH = 1000;
/** Events kept in memory at most, whatever the revocation rate; older reads go to the database. */
const MAX_TAIL = 200_000;
const READ_BATCH = 5000;

/**
 * The session revocation log: every revocation, in the order it became visible, for the
 * resource-server feed (cursor = position in this log) and for every instance's registry.
 *
 * Why no reader can skip a revocation. A revocation's row is written inside the revoking
 * transaction with no position. Positions (`seq`) are assigned only afterwards, to rows that
 * have committed, by a sequencing transaction that first locks the single `revocation_sequence`
 * row; so sequencing transactions run one at a time, and one that assigns N+1… starts only
 * after the one that assigned …N has committed. Hence, at any moment, the rows that have a
 * position are exactly positions 1…head, all committed: a reader that has seen position N
 * has seen, or will be served, everything after it, whatever the order in which the revoking
 * transactions committed and whatever any clock said (timestamps play no part in the order).
 * On Galera the node-local row lock is backed by certification: two nodes sequencing at once
 * conflict on that row and one is retried. A crash between a commit and its sequencing leaves
 * the row without a position; every instance sequences leftovers on each poll.
 *
 * A restored database takes `last_seq` back below positions that receivers may already hold;
 * positions after it would then be given again to other revocations, and a receiver past them
 * would skip those. So an instance that finds `last_seq` below the head it has seen gives the
 * log a new epoch (in the database, once for all instances) and starts over: every cursor of
 * the old history then names another epoch and is answered from the window's start.
 *
 * In memory it keeps the tail of the log (the last access-token lifetime, bounded), so that any
 * number of feed receivers and the registry read it without a query each.
 */
@Injectable()
export class RevocationLog implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationLog.name);
  /** Changes only if the log starts over (a new or restored database); cursors carry it. */
  epoch = '';
  /** Every position up to here is committed and in `tail` (or older than the window). */
  head = 0;
  private tail: RevocationEvent[] = [];
  private readonly listeners = new Set<(events: RevocationEvent[]) => void>();
  private readonly startOverListeners = new Set<() => void>();
  private readonly waiters = new Set<() => void>();
  private loaded?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly sequencer = new Coalesced(() => this.sequence());
  private readonly reader = new Coalesced(() => this.readAfterHead());
  private readonly windowMs: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {
    this.windowMs = liveTokenHorizonMs(config);
  }

  onModuleInit(): Promise<void> {
    return this.load();
  }

  /** Loads the epoch, the head and the window; once, however many callers ask. */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      await this.readFromStart(await this.sequenceRow());
      this.redis.subscribe(REVOCATIONS_CHANNEL, (message) => this.heard(message));
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
    for (const wake of this.waiters) wake();
  }

  /** Called when the log starts over under a new epoch (a restored database): every position held so far is void. */
  onStartOver(listener: () => void): void {
    this.startOverListeners.add(listener);
  }

  private sequenceRow(causal = false): Promise<{ epoch: string; last_seq: unknown }> {
    return this.database.rows<{ epoch: string; last_seq: unknown }>(`${causal ? this.database.causalPrefix : ''}SELECT epoch, last_seq FROM revocation_sequence WHERE id = 1`, []).then(([row]) => row);
  }

  private async readFromStart(row: { epoch: string; last_seq: unknown }): Promise<void> {
    const head = Number(row.last_seq);
    this.tail = await this.select('seq IS NOT NULL AND seq <= ? AND revoked_at >= ? ORDER BY seq', [head, this.clock.now() - this.windowMs]);
    this.epoch = row.epoch;
    this.head = head;
  }

  /** Called with every batch of events that joins the tail, from whichever instance sequenced it. */
  onAdvance(listener: (events: RevocationEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The window's events (revoked within the last access-token lifetime), oldest position first. */
  window(now = this.clock.now()): RevocationEvent[] {
    const start = now - this.windowMs;
    return this.tail.filter((e) => e.revokedAt >= start);
  }

  /** Writes the log rows of revocations inside the revoking transaction; they get positions after commit. */
  async record(rows: Array<{ id: string; userId: string }>, reason: RevokeReason, revokedAt: number, db: Db): Promise<void> {
    const values = rows.map(() => '(?, ?, ?, ?)').join(', ');
    await this.database.exec(
      `INSERT INTO session_revocations (session_id, user_id, reason, revoked_at) VALUES ${values}`,
      rows.flatMap((r) => [r.id, r.userId, reason, revokedAt]),
      db,
    );
  }

  /** Events after position `after`, at most `limit`, oldest first; served from memory when possible. */
  async read(after: number, limit: number): Promise<RevocationEvent[]> {
    const head = this.head;
    const first = this.tail[0]?.seq ?? head + 1;
    if (after >= first - 1) {
      // Every feed stream reads here on every advance: a binary search, not a scan of the window.
      const from = firstAfter(this.tail, after);
      return this.tail.slice(from, from + limit);
    }
    return this.select(`seq > ? AND seq <= ? ORDER BY seq LIMIT ${Math.floor(limit)}`, [after, head]);
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

  /** After a revocation committed here: give it a position soon (coalesced), then tell everyone. */
  sequenceSoon(): void {
    this.sequencer.run().catch((error: Error) => this.logger.warn(`sequencing revocations failed (the next poll retries): ${error.message}`));
  }

  /** One sequencing transaction (see the class comment), then the new events join the tail; true when the batch was full. */
  private async sequence(): Promise<boolean> {
    const batch = await this.database.transaction(async (db) => {
      const [counter] = await db.query(`SELECT last_seq FROM revocation_sequence WHERE id = 1${this.database.forUpdate}`);
      // A plain read (no FOR UPDATE): it must not wait for revoking transactions still open, whose
      // rows it cannot see yet anyway; the lock above already keeps other sequencers out.
      const rows = await db.query(`SELECT session_id, user_id, reason, revoked_at FROM session_revocations WHERE seq IS NULL ORDER BY revoked_at, session_id LIMIT ${SEQUENCE_BATCH}`);
      if (rows.length === 0) return { last: Number(counter.last_seq), events: [] as RevocationEvent[] };
      const from = Number(counter.last_seq);
      const events: RevocationEvent[] = rows.map((r: Record<string, unknown>, i: number) => toEvent({ ...r, seq: from + 1 + i }));
      const seq = from + events.length;
      await this.database.exec(
        `UPDATE session_revocations SET seq = CASE session_id ${events.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE session_id IN (${events.map(() => '?').join(', ')})`,
        [...events.flatMap((e) => [e.sessionId, e.seq]), ...events.map((e) => e.sessionId)],
        db,
      );
      await this.database.exec('UPDATE revocation_sequence SET last_seq = ? WHERE id = 1', [seq], db);
      return { last: seq, events };
    });
    if (batch.events.length === 0) return false;
    // Positions before ours that another instance sequenced and this one has not read yet come
    // first: read them (and ours) from the database; otherwise ours continue the tail directly.
    // Positions at or below the head: the database went back (a restore); catching up starts over.
    if (batch.events[0].seq - 1 !== this.head) await this.catchUp();
    else this.advance(batch.events);
    this.redis.publish(REVOCATIONS_CHANNEL, JSON.stringify({ head: batch.last, ids: batch.events.map((e) => e.sessionId), at: this.clock.now() }));
    return batch.events.length === SEQUENCE_BATCH;
  }

  /** Another instance sequenced revocations: its registry entries at once, the events from the database. */
  private heard(message: string): void {
    try {
      const { head, ids, at } = JSON.parse(message) as { head: unknown; ids: unknown; at: unknown };
      if (Array.isArray(ids) && typeof at === 'number') {
        const sessionIds = ids.filter((id): id is string => typeof id === 'string');
        for (const listener of this.fastListeners) listener(sessionIds, at);
      }
      if (typeof head === 'number' && head > this.head) void this.catchUp().catch((error: Error) => this.logger.warn(`revocation log catch-up failed: ${error.message}`));
    } catch {
      this.logger.warn('ignored a malformed revocation message');
    }
  }

  private readonly fastListeners = new Set<(sessionIds: string[], at: number) => void>();

  /** Session ids announced by another instance over Redis, before their events are read (milliseconds earlier). */
  onAnnounced(listener: (sessionIds: string[], at: number) => void): void {
    this.fastListeners.add(listener);
  }

  /** Every poll: sequence what a crashed instance left without a position, and read what others sequenced. */
  async poll(): Promise<void> {
    try {
      const unsequenced = await this.database.rows('SELECT session_id FROM session_revocations WHERE seq IS NULL LIMIT 1', []);
      if (unsequenced.length > 0) this.sequenceSoon();
      await this.catchUp();
    } catch (error) {
      // The database may be down; the registry keeps what it has, and the next poll catches up.
      this.logger.warn(`revocation log poll failed: ${(error as Error).message}`);
    }
  }

  /**
   * Reads every position after the head from the database. One read at a time; a call that
   * arrives while one runs makes it read once more when done, so nothing sequenced meanwhile
   * waits for the next poll.
   */
  catchUp(): Promise<void> {
    return this.reader.run();
  }

  private async readAfterHead(): Promise<void> {
    await this.startOverIfRewound();
    for (;;) {
      const events = await this.select(`seq > ? ORDER BY seq LIMIT ${READ_BATCH}`, [this.head], true);
      if (events.length) this.advance(events);
      if (events.length < READ_BATCH) return;
    }
  }

  /**
   * `last_seq` below the head this instance has seen, under the same epoch, means the database
   * was restored to an earlier state: give the log a new epoch (one instance wins; the others
   * find the new epoch) and read it again from the start. Runs inside the one reader round.
   */
  private async startOverIfRewound(): Promise<void> {
    // The head before the read: this instance's own sequencing may move it while the read is
    // under way, past the last_seq it returns. Causal on Galera: a lagging node is no restore.
    const head = this.head;
    let row = await this.sequenceRow(true);
    if (row.epoch === this.epoch && Number(row.last_seq) >= head) return;
    if (row.epoch === this.epoch) {
      await this.database.exec('UPDATE revocation_sequence SET epoch = ? WHERE id = 1 AND epoch = ?', [randomBytes(6).toString('base64url'), this.epoch]);
      row = await this.sequenceRow(true);
    }
    this.logger.warn(`the revocation log went back from position ${this.head} to ${Number(row.last_seq)} (a restored database?): starting over under a new epoch; feed receivers read the window again`);
    await this.readFromStart(row);
    for (const listener of this.startOverListeners) listener();
    for (const wake of [...this.waiters]) wake();
  }

  /** Appends contiguous events to the tail, trims it, moves the head and tells listeners and waiters. */
  private advance(events: RevocationEvent[]): void {
    const fresh = events.filter((e) => e.seq > this.head);
    if (fresh.length === 0) return;
    this.tail.push(...fresh);
    this.head = fresh[fresh.length - 1].seq;
    const start = this.clock.now() - this.windowMs;
    let drop = 0;
    while (drop < this.tail.length && (this.tail[drop].revokedAt < start || this.tail.length - drop > MAX_TAIL)) drop++;
    if (drop) this.tail = this.tail.slice(drop);
    for (const listener of this.listeners) {
      try {
        listener(fresh);
      } catch (error) {
        this.logger.warn(`revocation listener failed: ${(error as Error).message}`);
      }
    }
    for (const wake of [...this.waiters]) wake();
  }

  private async select(where: string, params: unknown[], causal = false): Promise<RevocationEvent[]> {
    const rows = await this.database.rows<Record<string, unknown>>(
      `${causal ? this.database.causalPrefix : ''}SELECT seq, session_id, user_id, reason, revoked_at FROM session_revocations WHERE ${where}`,
      params,
    );
    return rows.map(toEvent);
  }

  /** Housekeeping: one bounded batch of positioned events older than `before`. */
  async deleteOlderThan(before: number, batch: number): Promise<number> {
    const rows = await this.database.rows<{ session_id: string }>(`SELECT session_id FROM session_revocations WHERE revoked_at < ? AND seq IS NOT NULL LIMIT ${Number(batch)}`, [before]);
    if (rows.length === 0) return 0;
    return this.database.exec(`DELETE FROM session_revocations WHERE session_id IN (${rows.map(() => '?').join(', ')})`, rows.map((r) => r.session_id));
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

function toEvent(r: Record<string, unknown>): RevocationEvent {
  return { seq: Number(r.seq), sessionId: r.session_id as string, userId: r.user_id as string, reason: r.reason as RevokeReason, revokedAt: Number(r.revoked_at) };
}
