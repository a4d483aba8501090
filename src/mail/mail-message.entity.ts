import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

export const MAIL_STATES = ['pending', 'sent', 'dropped', 'failed'] as const;
export type MailState = (typeof MAIL_STATES)[number];

/**
 * One message of the transactional outbox (`mail_outbox`): the intent to mail someone, written
 * in the transaction of whatever warrants the mail. What it says is decided when it is sent
 * (MailSender asks the preparer registered for its kind), so nothing secret is stored here:
 * links are made by the preparer, which records their id in `ref` so that a retry reuses them.
 */
@Entity('mail_outbox')
export class MailMessage {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 32 })
  kind: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36, nullable: true })
  userId: string | null;

  /** Preparer input (JSON): who asked, from where, about what. Cleared once the message is done. */
  @Column({ type: 'text', nullable: true })
  data: string | null;

  /** What the preparer made for this message (a link id), kept across retries. */
  @Column({ type: 'varchar', length: 36, nullable: true })
  ref: string | null;

  @Column({ type: 'varchar', length: 16 })
  state: MailState;

  @Column({ type: 'int' })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'bigint', transformer: epochMs })
  nextAttemptAt: number;

  /** The instance sending it now, until `claimed_until`; a crashed sender's claim simply lapses. */
  @Column({ name: 'claimed_by', type: 'varchar', length: 36, nullable: true })
  claimedBy: string | null;

  @Column({ name: 'claimed_until', type: 'bigint', nullable: true, transformer: epochMs })
  claimedUntil: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  @Column({ name: 'finished_at', type: 'bigint', nullable: true, transformer: epochMs })
  finishedAt: number | null;

  @Column({ name: 'message_id', type: 'varchar', length: 255, nullable: true })
  messageId: string | null;

  /** Why the last attempt failed or the message was dropped: a short reason, never a token or an address. */
  @Column({ name: 'last_error', type: 'varchar', length: 255, nullable: true })
  lastError: string | null;
}
