import { randomBytes } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { Coalesced } from '../common/coalesced';
import { RevocationLogRepository, SequenceState } from './revocation-log.repository';
import { RevocationTail } from './revocation-tail';

const READ_BATCH = 5000;

/**
 * Brings the tail up to the database: at start (the window), and whenever positions may exist
 * past the head (each poll, a Redis announcement, a cursor from the future, another instance's
 * batch before ours). One read at a time; a call that arrives while one runs makes it read once
 * more when done, so nothing sequenced meanwhile waits for the next poll.
 *
 * A restored database takes `last_seq` back below positions that receivers may already hold;
 * positions after it would then be given again to other revocations, and a receiver past them
 * would skip those. So a reader that finds `last_seq` below the head it has seen gives the log a
 * new epoch (in the database, once for all instances) and starts over: every cursor of the old
 * history then names another epoch and is answered from the window's start.
 */
@Injectable()
export class RevocationReader {
  private readonly logger = new Logger('RevocationLog');
  private readonly reader = new Coalesced(() => this.readAfterHead());

  constructor(
    private readonly repository: RevocationLogRepository,
    private readonly tail: RevocationTail,
    private readonly clock: Clock,
  ) {}

  /** The epoch, the head and the window, read afresh into the tail. */
  async readFromStart(state?: SequenceState): Promise<void> {
    const { epoch, lastSeq } = state ?? (await this.repository.sequenceState());
    this.tail.reset(epoch, lastSeq, await this.repository.windowUpTo(lastSeq, this.clock.now() - this.tail.windowMs));
  }

  /** Reads every position after the head from the database (coalesced, see above). */
  catchUp(): Promise<void> {
    return this.reader.run();
  }

  private async readAfterHead(): Promise<void> {
    await this.startOverIfRewound();
    for (;;) {
      const events = await this.repository.after(this.tail.head, READ_BATCH);
      if (events.length) this.tail.advance(events);
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
    const head = this.tail.head;
    let state = await this.repository.sequenceState(true);
    if (state.epoch === this.tail.epoch && state.lastSeq >= head) return;
    if (state.epoch === this.tail.epoch) {
      await this.repository.renewEpoch(this.tail.epoch, randomBytes(6).toString('base64url'));
      state = await this.repository.sequenceState(true);
    }
    this.logger.warn(
      `the revocation log went back from position ${this.tail.head} to ${state.lastSeq} (a restored database?): starting over under a new epoch; feed receivers read the window again`,
    );
    await this.readFromStart(state);
    this.tail.startedOver();
  }
}
