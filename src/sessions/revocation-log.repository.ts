import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import type { Numeric } from '../database/columns';
import { deleteBatch } from '../database/batched-delete';
import type { RevokeReason } from './session.entity';

/** One revoked session, at its place in the log. */
export interface RevocationEvent {
  seq: number;
  sessionId: string;
  userId: string;
  reason: RevokeReason;
  revokedAt: number;
}

/** The log's one counter row: its epoch and the last position given out. */
export interface SequenceState {
  epoch: string;
  lastSeq: number;
}

/** A `session_revocations` row as the drivers return it (MySQL may give a BIGINT as text). */
interface RevocationRow {
  seq: Numeric | null;
  session_id: string;
  user_id: string;
  reason: RevokeReason;
  revoked_at: Numeric;
}

/** The `revocation_sequence` row as the drivers return it. */
interface SequenceRow {
  epoch: string;
  last_seq: Numeric;
}

const EVENT_COLUMNS = 'seq, session_id, user_id, reason, revoked_at';

/**
 * The only SQL on `session_revocations` (one row per revoked session, `seq` NULL until it is
 * sequenced) and `revocation_sequence` (the single counter row, id = 1). What the statements
 * mean for ordering is explained in revocation-sequencer.ts; this file only says them.
 * `causal` reads wait, on Galera, for every write committed anywhere before them.
 */
@Injectable()
export class RevocationLogRepository {
  constructor(private readonly database: DatabaseService) {}

  async sequenceState(causal = false): Promise<SequenceState> {
    const [row] = await this.database.rows<SequenceRow>(`${this.prefix(causal)}SELECT epoch, last_seq FROM revocation_sequence WHERE id = 1`, []);
    return { epoch: row.epoch, lastSeq: Number(row.last_seq) };
  }

  /** The revocations' rows, inside the revoking transaction, without a position. */
  async insert(rows: Array<{ id: string; userId: string }>, reason: RevokeReason, revokedAt: number, db: Db): Promise<void> {
    await this.database.exec(
      `INSERT INTO session_revocations (session_id, user_id, reason, revoked_at) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}`,
      rows.flatMap((r) => [r.id, r.userId, reason, revokedAt]),
      db,
    );
  }

  /** Inside a sequencing transaction: locks the counter row (MySQL; SQLite queues transactions) and returns the last position. */
  async lockLastSeq(db: Db): Promise<number> {
    const [row] = await this.database.rows<Pick<SequenceRow, 'last_seq'>>(
      `SELECT last_seq FROM revocation_sequence WHERE id = 1${this.database.forUpdate}`,
      [],
      db,
    );
    return Number(row.last_seq);
  }

  /**
   * Committed rows still without a position, oldest first, at most `limit`: a plain read (no
   * FOR UPDATE), so it never waits for revoking transactions still open, whose rows it cannot
   * see anyway; the counter's lock already keeps other sequencers out.
   */
  async unsequenced(limit: number, db: Db): Promise<Array<Omit<RevocationEvent, 'seq'>>> {
    const rows = await this.database.rows<Omit<RevocationRow, 'seq'>>(
      `SELECT session_id, user_id, reason, revoked_at FROM session_revocations WHERE seq IS NULL ORDER BY revoked_at, session_id LIMIT ${Math.floor(limit)}`,
      [],
      db,
    );
    return rows.map((r) => ({ sessionId: r.session_id, userId: r.user_id, reason: r.reason, revokedAt: Number(r.revoked_at) }));
  }

  /** Gives the events their positions and moves the counter to the last of them, in the sequencing transaction. */
  async assign(events: RevocationEvent[], db: Db): Promise<void> {
    await this.database.exec(
      `UPDATE session_revocations SET seq = CASE session_id ${events.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE session_id IN (${events.map(() => '?').join(', ')})`,
      [...events.flatMap((e) => [e.sessionId, e.seq]), ...events.map((e) => e.sessionId)],
      db,
    );
    await this.database.exec('UPDATE revocation_sequence SET last_seq = ? WHERE id = 1', [events[events.length - 1].seq], db);
  }

  /** Whether any committed row still waits for a position (a crashed instance's leftovers). */
  async hasUnsequenced(): Promise<boolean> {
    return (await this.database.rows<{ session_id: string }>('SELECT session_id FROM session_revocations WHERE seq IS NULL LIMIT 1', [])).length > 0;
  }

  /** Positions up to `head` revoked at or after `since`, in order: the window at start. */
  windowUpTo(head: number, since: number): Promise<RevocationEvent[]> {
    return this.events('seq IS NOT NULL AND seq <= ? AND revoked_at >= ? ORDER BY seq', [head, since]);
  }

  /** Positions after `after` up to `head`, at most `limit`, in order: an old cursor's page. */
  between(after: number, head: number, limit: number): Promise<RevocationEvent[]> {
    return this.events(`seq > ? AND seq <= ? ORDER BY seq LIMIT ${Math.floor(limit)}`, [after, head]);
  }

  /** Every position after `after`, at most `limit`, in order, causally: catching up with the other instances. */
  after(after: number, limit: number): Promise<RevocationEvent[]> {
    return this.events(`seq > ? ORDER BY seq LIMIT ${Math.floor(limit)}`, [after], true);
  }

  /** A new epoch, unless another instance gave one already (the old epoch is the condition). */
  async renewEpoch(old: string, epoch: string): Promise<void> {
    await this.database.exec('UPDATE revocation_sequence SET epoch = ? WHERE id = 1 AND epoch = ?', [epoch, old]);
  }

  /** Housekeeping: one bounded batch of positioned events older than `before`. */
  deleteOlderThan(before: number, batch: number): Promise<number> {
    return deleteBatch(
      this.database,
      { table: 'session_revocations', key: 'session_id', where: 'revoked_at < ? AND seq IS NOT NULL', params: [before] },
      batch,
    );
  }

  private async events(where: string, params: unknown[], causal = false): Promise<RevocationEvent[]> {
    const rows = await this.database.rows<RevocationRow>(`${this.prefix(causal)}SELECT ${EVENT_COLUMNS} FROM session_revocations WHERE ${where}`, params);
    return rows.map((r) => ({ seq: Number(r.seq), sessionId: r.session_id, userId: r.user_id, reason: r.reason, revokedAt: Number(r.revoked_at) }));
  }

  private prefix(causal: boolean): string {
    return causal ? this.database.causalPrefix : '';
  }
}
