import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { MailMessage, MailState } from './mail-message.entity';

/** The only SQL on `mail_outbox`. Every change to a claimed message is conditional on still holding the claim. */
@Injectable()
export class MailOutboxRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(message: MailMessage, db: Db): Promise<void> {
    await db.getRepository(MailMessage).insert(message);
  }

  /** Ids of pending messages whose next attempt is due and that nobody holds. */
  async due(now: number, limit: number): Promise<string[]> {
    const rows = await this.database.rows<{ id: string }>(
      `SELECT id FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at LIMIT ${Math.floor(limit)}`,
      [now, now],
    );
    return rows.map((r) => r.id);
  }

  /** Compare-and-swap: the message is ours until `until`, or null when another sender got it first. */
  async claim(id: string, by: string, until: number, now: number): Promise<MailMessage | null> {
    const won = await this.database.exec(
      "UPDATE mail_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)",
      [by, until, id, now],
    );
    if (won !== 1) return null;
    return this.database.manager.getRepository(MailMessage).findOneBy({ id });
  }

  /** Records what the preparer made, inside its transaction; false when the claim was lost. */
  async setRef(id: string, by: string, ref: string, db: Db): Promise<boolean> {
    return (await this.database.exec('UPDATE mail_outbox SET ref = ? WHERE id = ? AND claimed_by = ?', [ref, id, by], db)) === 1;
  }

  /** The end of a message: sent, dropped or failed. Its preparer input (addresses, IPs) is erased. */
  async finish(
    id: string,
    by: string,
    state: Exclude<MailState, 'pending'>,
    at: number,
    detail: { messageId?: string; reason?: string },
    db?: Db,
  ): Promise<boolean> {
    const changed = await this.database.exec(
      'UPDATE mail_outbox SET state = ?, finished_at = ?, message_id = ?, last_error = ?, data = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?',
      [state, at, detail.messageId ?? null, detail.reason?.slice(0, 255) ?? null, id, by],
      db,
    );
    return changed === 1;
  }

  /** Gives the message back for a later attempt. */
  async retryLater(id: string, by: string, attempts: number, nextAttemptAt: number, reason: string): Promise<void> {
    await this.database.exec(
      'UPDATE mail_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?',
      [attempts, nextAttemptAt, reason.slice(0, 255), id, by],
    );
  }

  /** The user's messages, and pending ones whose data names `quotedEmail` (the address as a JSON string). */
  deleteForUser(userId: string, quotedEmail: string, db: Db): Promise<number> {
    // '!' escapes LIKE's wildcards: a backslash means different things to MySQL and SQLite string literals.
    const pattern = `%${quotedEmail.replace(/[!%_]/g, (c) => `!${c}`)}%`;
    return this.database.exec(
      "DELETE FROM mail_outbox WHERE user_id = ? OR (user_id IS NULL AND state = 'pending' AND data LIKE ? ESCAPE '!')",
      [userId, pattern],
      db,
    );
  }

  /** Housekeeping: one bounded batch of messages finished before `before`. */
  deleteFinished(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'mail_outbox', key: 'id', where: "state <> 'pending' AND finished_at < ?", params: [before] }, batch);
  }

  /** Counts by state (tests, metrics). */
  async countByState(): Promise<Record<string, number>> {
    const rows = await this.database.rows<{ state: string; n: number | string }>('SELECT state, COUNT(*) AS n FROM mail_outbox GROUP BY state', []);
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}
