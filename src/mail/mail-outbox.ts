import { randomInt } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import { Db, DatabaseService } from '../database/database.service';
import { MailOutboxRepository } from './mail-outbox.repository';

/** The kinds of mail latchkey sends; each has one preparer (see MailSender.register). */
export const MAIL_KINDS = [
  'password_reset',
  'email_verification',
  'new_device',
  'mfa_enabled',
  'mfa_disabled',
  'recovery_code_used',
  'mfa_reset',
  'email_change',
  'email_changed',
  'account_deleted',
] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

export interface MailIntent {
  kind: MailKind;
  /** The account it is about; null when only an address is known (a forgotten-password request). */
  userId: string | null;
  /** Preparer input; never a secret (links are made when the mail is prepared). */
  data?: Record<string, unknown>;
  /**
   * Prepared on the sender's own schedule, at a random moment up to DETACHED_DELAY_MS later,
   * and the sender is not woken for it: for a mail whose preparation must not be timed from the
   * request that asked for it (whether "forgot password" named an account shows in that work).
   */
  detached?: boolean;
}

/** One poll of the sender (MailSender): a detached mail goes out within about two. */
const DETACHED_DELAY_MS = 1000;

/**
 * The write side of the transactional outbox: `enqueue` joins the caller's transaction, so the
 * mail exists exactly when what warrants it committed. Listeners (the sender) hear of it after
 * the commit, so a mail is normally on its way within milliseconds; their poll catches the rest.
 */
@Injectable()
export class MailOutbox {
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly repository: MailOutboxRepository,
  ) {}

  async enqueue(intent: MailIntent, db: Db): Promise<string> {
    const now = this.clock.now();
    const id = uuidv7(now);
    const nextAttemptAt = intent.detached ? now + randomInt(DETACHED_DELAY_MS) : now;
    await this.repository.insert(
      {
        id,
        kind: intent.kind,
        userId: intent.userId,
        data: intent.data ? JSON.stringify(intent.data) : null,
        ref: null,
        state: 'pending',
        attempts: 0,
        nextAttemptAt,
        claimedBy: null,
        claimedUntil: null,
        createdAt: now,
        finishedAt: null,
        messageId: null,
        lastError: null,
      },
      db,
    );
    if (!intent.detached) this.database.afterCommit(db, () => this.listeners.forEach((listener) => listener()));
    return id;
  }

  /**
   * Account deletion, inside its transaction: every message about the user goes (a pending one
   * would name them, their IP or their device), and so does a pending message that knows only
   * their address (a "forgot password" not yet prepared). A message a sender is delivering right
   * now finds its row gone when it records the result, and its preparer finds no account.
   */
  forgetUser(userId: string, email: string, db: Db): Promise<number> {
    return this.repository.deleteForUser(userId, JSON.stringify(email), db);
  }

  onEnqueued(listener: () => void): void {
    this.listeners.add(listener);
  }
}
