import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { createTransport, Transporter } from 'nodemailer';
import type { AppConfig } from '../config/config';
import { inSpan, SpanKind } from '../common/spans';

/** A message ready for the wire. */
export interface OutgoingMail {
  /** Also the file name in the development outbox. */
  id: string;
  messageId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The links it carries: logged by the development outbox, so `npm start` works end to end. */
  links: string[];
}

/** SMTP connections per instance: as many as MailSender delivers at once, so no send waits in the pool's queue. */
export const SMTP_CONNECTIONS = 4;

export interface MailTransport {
  readonly description: string;
  /**
   * Resolves once the server accepted the message (SMTP 250); rejects with the server's answer
   * otherwise, or when `signal` aborts (the send is then dropped from the queue or its connection closed).
   */
  send(mail: OutgoingMail, signal: AbortSignal): Promise<void>;
  close(): void;
}

/** SMTP through a small pool of Nodemailer connections, with bounded waits at every step. */
class SmtpTransport implements MailTransport {
  private readonly transporter: Transporter;
  readonly description: string;
  private readonly spanAttributes: Record<string, string | number>;

  constructor(
    url: URL,
    private readonly from: string,
  ) {
    const secure = url.protocol === 'smtps:';
    this.transporter = createTransport({
      host: url.hostname,
      port: url.port ? Number(url.port) : secure ? 465 : 587,
      secure,
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      requireTLS: url.searchParams.get('requireTLS') === 'true',
      ignoreTLS: url.searchParams.get('ignoreTLS') === 'true',
      pool: true,
      maxConnections: SMTP_CONNECTIONS,
      // Each well inside MailSender's attempt limit.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 15_000,
    });
    this.description = `SMTP at ${url.hostname}:${url.port || (secure ? 465 : 587)}`;
    // The server, never the credentials in SMTP_URL; the message by its id, never its links.
    this.spanAttributes = { 'server.address': url.hostname, 'server.port': url.port ? Number(url.port) : secure ? 465 : 587, 'network.protocol.name': 'smtp' };
  }

  async send(mail: OutgoingMail, signal: AbortSignal): Promise<void> {
    await inSpan('smtp send', { kind: SpanKind.CLIENT, attributes: { ...this.spanAttributes, 'latchkey.mail.id': mail.id } }, () =>
      this.transporter.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId, signal }),
    );
  }

  close(): void {
    this.transporter.close();
  }
}

/**
 * No SMTP_URL (development only; production refuses to start without it): each message is
 * written to DATA_DIR/outbox/<id>.eml, readable by its owner only, and its links are logged.
 */
class DevelopmentOutbox implements MailTransport {
  private readonly logger = new Logger('Mail');
  private readonly transporter = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  readonly description: string;

  constructor(
    private readonly dir: string,
    private readonly from: string,
  ) {
    this.description = `the development outbox in ${dir} (set SMTP_URL to send mail)`;
  }

  async send(mail: OutgoingMail): Promise<void> {
    const info = await this.transporter.sendMail({
      from: this.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      messageId: mail.messageId,
    });
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${mail.id}.eml`);
    writeFileSync(file, info.message as Buffer, { mode: 0o600 });
    this.logger.log(`mail "${mail.subject}" to ${mail.to} written to ${file}${mail.links.length ? `; its link: ${mail.links.join(' ')}` : ''}`);
  }

  close(): void {
    this.transporter.close();
  }
}

export function createMailTransport(config: Pick<AppConfig, 'smtpUrl' | 'mailFrom' | 'dataDir'>): MailTransport {
  return config.smtpUrl ? new SmtpTransport(new URL(config.smtpUrl), config.mailFrom) : new DevelopmentOutbox(join(config.dataDir, 'outbox'), config.mailFrom);
}

/** Whether an SMTP failure is final: the server refused the recipient itself (5xx to RCPT TO). Anything else is retried. */
export function isPermanentRefusal(error: unknown): boolean {
  const e = error as { responseCode?: number; command?: string };
  return typeof e.responseCode === 'number' && e.responseCode >= 500 && e.responseCode < 600 && e.command === 'RCPT TO';
}
