import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { Coalesced } from '../common/coalesced';
import { inBatches } from '../common/batches';
import { Db } from '../database/database.service';
import { MetricsService } from '../metrics/metrics.service';
import { MailMessage } from './mail-message.entity';
import { MailKind, MailOutbox } from './mail-outbox';
import { MailOutboxRepository } from './mail-outbox.repository';
import { annotateActiveSpan, inSpan } from '../common/spans';
import { createMailTransport, isPermanentRefusal, MailTransport, SMTP_CONNECTIONS } from './mail-transport';

export interface PreparedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  links: string[];
}

/** What a preparer decides: the mail to send now, or that it is not to be sent at all (and why). */
export type Preparation = PreparedMail | { drop: string };

export interface PrepareContext {
  readonly message: MailMessage;
  readonly data: Record<string, unknown>;
  /** Records what was made for this message (a link id) inside the preparer's transaction, so a retry reuses it. */
  keepRef(ref: string, db: Db): Promise<void>;
}

export type Preparer = (context: PrepareContext) => Promise<Preparation>;

/** Thrown inside a preparer's transaction when another sender took the message over: it rolls back. */
class LostClaim extends Error {}

const POLL_MS = 1000;
const BATCH = 20;
const CONCURRENCY = SMTP_CONNECTIONS;
/**
 * A claim outlives the longest attempt, so two senders never hold one message at once; it is
 * also how long a crashed sender's message waits before another instance takes it over.
 */
const LEASE_MS = 30_000;
const ATTEMPT_LIMIT_MS = 25_000;
const FIRST_RETRY_MS = 1000;
const RECORD_RETRY_MS = 500;
const MAX_RETRY_MS = 10 * 60_000;
/** A message the SMTP server has refused to take for this long is given up (and logged). */
const GIVE_UP_AFTER_MS = 3 * 86_400_000;
const KEEP_FINISHED_MS = 7 * 86_400_000;

/**
 * Delivers the outbox. Every instance runs one: it claims due messages with a conditional UPDATE
 * (a lease, so a crashed sender's messages are taken over once it lapses), asks the preparer of
 * the message's kind what to send, hands it to SMTP and records the result under the same
 * claim. A message is therefore sent once, except when a sender dies between the server's 250
 * and the commit that records it (or the database refuses that write for a whole lease): then it
 * is sent again, with the same Message-ID. An attempt that runs out of time is aborted, not
 * abandoned, so it cannot go out behind its own retry.
 *
 * Failed attempts are retried with jittered exponential backoff (1 s, 2 s, 4 s… up to 10
 * minutes) for as long as the server refuses to take the message, up to three days; a
 * recipient the server rejects outright (5xx to RCPT TO) is not retried.
 */
@Injectable()
export class MailSender implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Mail');
  private readonly instance = randomUUID();
  private readonly preparers = new Map<string, Preparer>();
  private readonly transport: MailTransport;
  private readonly domain: string;
  private timer?: NodeJS.Timeout;
  private readonly passes = new Coalesced(() => this.pass());
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly outbox: MailOutbox,
    private readonly repository: MailOutboxRepository,
    private readonly metrics: MetricsService,
  ) {
    this.transport = createMailTransport(config);
    this.domain = /@([^>\s]+)>?\s*$/.exec(config.mailFrom)?.[1] ?? 'localhost';
  }

  /** The one preparer of a kind of mail (registered by the module that owns what the mail is about). */
  register(kind: MailKind, preparer: Preparer): void {
    this.preparers.set(kind, preparer);
  }

  onModuleInit(): void {
    this.outbox.onEnqueued(() => void this.drain());
    this.timer = setInterval(() => void this.drain(), POLL_MS);
    this.timer.unref();
    this.logger.log(`mail goes to ${this.transport.description}`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.passes.settled();
    this.transport.close();
  }

  /** Sends what is due; one pass at a time, and a call during a pass gets one more after it. */
  drain(): Promise<void> {
    return this.stopped ? Promise.resolve() : this.passes.run();
  }

  /** One pass over a batch of due messages; true when the batch was full (more may be due). */
  private async pass(): Promise<boolean> {
    if (this.stopped) return false;
    try {
      const ids = await this.repository.due(this.clock.now(), BATCH);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, ids.length) }, async () => {
          while (next < ids.length && !this.stopped) {
            const id = ids[next++];
            // Its own trace, linked to whatever woke the sender (the request that enqueued it commits first).
            await inSpan('mail deliver', { root: true, attributes: { 'latchkey.mail.id': id } }, () => this.deliver(id));
          }
        }),
      );
      return ids.length === BATCH;
    } catch (error) {
      this.logger.warn(`outbox pass failed (the next one retries): ${(error as Error).message}`);
      return false;
    }
  }

  private async deliver(id: string): Promise<void> {
    const now = this.clock.now();
    const message = await this.repository.claim(id, this.instance, now + LEASE_MS, now);
    if (!message) return;
    annotateActiveSpan({ 'latchkey.mail.kind': message.kind });
    try {
      if (now - message.createdAt > GIVE_UP_AFTER_MS)
        return await this.finish(message, 'failed', { reason: `gave up after ${message.attempts} attempts: ${message.lastError}` });
      const prepare = this.preparers.get(message.kind);
      if (!prepare) throw new Error(`no preparer for mail of kind ${message.kind}`);
      const prepared = await prepare({
        message,
        data: message.data ? (JSON.parse(message.data) as Record<string, unknown>) : {},
        keepRef: async (ref, db) => {
          if (!(await this.repository.setRef(message.id, this.instance, ref, db))) throw new LostClaim();
          message.ref = ref;
        },
      });
      if ('drop' in prepared) return await this.finish(message, 'dropped', { reason: prepared.drop });
      // Aborted, not merely abandoned: a send left running past its attempt would go out again on the retry.
      await this.transport.send({ id: message.id, messageId: this.messageIdOf(message), ...prepared }, AbortSignal.timeout(ATTEMPT_LIMIT_MS));
    } catch (error) {
      if (error instanceof LostClaim) return;
      const reason = describe(error);
      if (isPermanentRefusal(error)) return this.finish(message, 'failed', { reason });
      const attempts = message.attempts + 1;
      await this.repository.retryLater(message.id, this.instance, attempts, this.clock.now() + backoff(attempts), reason);
      this.metrics.mails.inc({ outcome: 'retried' });
      if (attempts === 1 || attempts % 10 === 0) this.logger.warn(`mail ${message.id} (${message.kind}) not sent, attempt ${attempts}; retrying: ${reason}`);
      return;
    }
    await this.recordSent(message);
  }

  /** The same on every attempt, so a mail that does go out twice is recognisably one mail. */
  private messageIdOf(message: MailMessage): string {
    return `<${message.id}@${this.domain}>`;
  }

  /**
   * The server has the message, so a failure to record that is never a reason to send it again:
   * the write is retried instead, and only if it keeps failing for the whole lease does another
   * sender take the message over and send it a second time (with the same Message-ID).
   */
  private async recordSent(message: MailMessage): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.finish(message, 'sent', { messageId: this.messageIdOf(message) });
      } catch (error) {
        if (attempt * RECORD_RETRY_MS >= LEASE_MS - ATTEMPT_LIMIT_MS) {
          this.logger.error(`mail ${message.id} was sent but could not be recorded; it may be sent again: ${describe(error)}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, RECORD_RETRY_MS));
      }
    }
  }

  private async finish(message: MailMessage, state: 'sent' | 'dropped' | 'failed', detail: { messageId?: string; reason?: string }): Promise<void> {
    if (!(await this.repository.finish(message.id, this.instance, state, this.clock.now(), detail))) {
      this.logger.warn(`mail ${message.id}: ${state}, but its claim had lapsed`);
    }
    this.metrics.mails.inc({ outcome: state });
    if (state === 'failed') this.logger.error(`mail ${message.id} (${message.kind}) failed for good: ${detail.reason}`);
  }

  /** Housekeeping: finished messages go after a week (their addresses and IPs went when they finished). */
  @Cron(CronExpression.EVERY_HOUR)
  housekeeping(): Promise<number> {
    return inBatches((n) => this.repository.deleteFinished(this.clock.now() - KEEP_FINISHED_MS, n));
  }
}

/** 1 s, 2 s, 4 s… capped, with the upper half jittered so that senders do not retry in step. */
function backoff(attempts: number): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** A failure in a few words: error code, SMTP status and command; never the server's text, which can quote addresses. */
function describe(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; command?: string; message?: string };
  if (e.responseCode) return `SMTP ${e.responseCode}${e.command ? ` to ${e.command}` : ''}`;
  if (e.code) return e.code;
  return error instanceof Error ? error.message.slice(0, 120) : 'unknown error';
}
