import { Injectable, Logger } from '@nestjs/common';
import { Coalesced } from '../common/coalesced';
import { DatabaseService } from '../database/database.service';
import { RevocationEvent, RevocationLogRepository } from './revocation-log.repository';
import { RevocationFanOut } from './revocation-fan-out';
import { RevocationReader } from './revocation-reader';
import { RevocationTail } from './revocation-tail';

/** Rows one sequencing transaction takes at most; a backlog is worked off in several. */
const SEQUENCE_BATCH = 1000;

/**
 * Gives committed revocations their positions in the log, so that no reader can skip one.
 *
 * A revocation's row is written inside the revoking transaction with no position. Positions
 * (`seq`) are assigned only afterwards, to rows that have committed, by a sequencing transaction
 * that first locks the single `revocation_sequence` row; so sequencing transactions run one at a
 * time, and one that assigns N+1… starts only after the one that assigned …N has committed.
 * Hence, at any moment, the rows that have a position are exactly positions 1…head, all
 * committed: a reader that has seen position N has seen, or will be served, everything after
 * it, whatever the order in which the revoking transactions committed and whatever any clock
 * said (timestamps play no part in the order). On Galera the node-local row lock is backed by
 * certification: two nodes sequencing at once conflict on that row and one is retried. A crash
 * between a commit and its sequencing leaves the row without a position; every instance
 * sequences leftovers on each poll (RevocationLog.poll).
 */
@Injectable()
export class RevocationSequencer {
  private readonly logger = new Logger('RevocationLog');
  private readonly rounds = new Coalesced(() => this.sequence());

  constructor(
    private readonly database: DatabaseService,
    private readonly repository: RevocationLogRepository,
    private readonly tail: RevocationTail,
    private readonly reader: RevocationReader,
    private readonly fanOut: RevocationFanOut,
  ) {}

  /** After a revocation committed here: give it a position soon (coalesced), then tell everyone. */
  sequenceSoon(): void {
    this.rounds.run().catch((error: Error) => this.logger.warn(`sequencing revocations failed (the next poll retries): ${error.message}`));
  }

  /** Resolves once no sequencing round runs or waits (before shutdown: this instance's own revocations get positions). */
  settled(): Promise<void> {
    return this.rounds.settled();
  }

  /** One sequencing transaction, then the new events join the tail; true when the batch was full. */
  private async sequence(): Promise<boolean> {
    const events = await this.database.transaction(async (db) => {
      const from = await this.repository.lockLastSeq(db);
      const rows = await this.repository.unsequenced(SEQUENCE_BATCH, db);
      const positioned: RevocationEvent[] = rows.map((r, i) => ({ ...r, seq: from + 1 + i }));
      if (positioned.length) await this.repository.assign(positioned, db);
      return positioned;
    });
    if (events.length === 0) return false;
    // Positions before ours that another instance sequenced and this one has not read yet come
    // first: read them (and ours) from the database; otherwise ours continue the tail directly.
    // Positions at or below the head: the database went back (a restore); catching up starts over.
    if (events[0].seq - 1 !== this.tail.head) await this.reader.catchUp();
    else this.tail.advance(events);
    this.fanOut.announce(
      events[events.length - 1].seq,
      events.map((e) => e.sessionId),
    );
    return events.length === SEQUENCE_BATCH;
  }
}
