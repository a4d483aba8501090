import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './faults';

/** A mail as it arrived at the SMTP server, parsed. */
export interface ReceivedMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** Links in the plain-text part. */
  links: string[];
  receivedAt: number;
}

/**
 * A real SMTP server in the test process (smtp-server, from the Nodemailer project) that keeps
 * what it receives, parsed with mailparser. `stop()` closes the port, so the app sees the
 * server as down; `start()` opens it again on the same port.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  private server?: SMTPServer;
  private waiters = new Set<() => void>();
  /** While true, every message is refused with a temporary 451 after its data arrived (an outage the sender must retry through). */
  refusing = false;
  /** Milliseconds the server sits on each message before answering (a slow relay). */
  delayMs = 0;

  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<SmtpSink> {
    const sink = new SmtpSink(port ?? (await freePort()));
    await sink.start();
    return sink;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const hungUp = new Set<string>();
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      closeTimeout: 100,
      // A client that hangs up before the 250 has not handed the message over: it is not kept.
      onClose: (session) => hungUp.add(session.id),
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then(async (mail) => {
            if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
            if (hungUp.has(session.id)) return callback(new Error('client gone'));
            if (this.refusing) return callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
            const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
            const text = mail.text ?? '';
            this.received.push({
              from: mail.from?.text ?? '',
              to: to?.value[0]?.address ?? '',
              subject: mail.subject ?? '',
              text,
              html: typeof mail.html === 'string' ? mail.html : '',
              messageId: mail.messageId ?? '',
              links: [...text.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]),
              receivedAt: Date.now(),
            });
            for (const wake of [...this.waiters]) wake();
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    server.on('error', () => undefined);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Mails to `to` (and matching `subject`, when given) received so far. */
  to(to: string, subject?: RegExp): ReceivedMail[] {
    return this.received.filter((m) => m.to === to.toLowerCase() && (!subject || subject.test(m.subject)));
  }

  /** Waits for the `count`-th mail to `to` (matching `subject`), and returns it. */
  async next(to: string, subject?: RegExp, timeoutMs = 15_000, count = 1): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mails = this.to(to, subject);
      if (mails.length >= count) return mails[count - 1];
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no mail${subject ? ` matching ${subject}` : ''} to ${to} within ${timeoutMs} ms (${this.received.length} received in all)`);
      await new Promise<void>((resolve) => {
        const wake = () => (this.waiters.delete(wake), clearTimeout(timer), resolve());
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }
}

/** The token of a mailed link (the part after #token=). */
export function tokenOf(mail: ReceivedMail, page: 'reset-password' | 'verify-email' | 'report' | 'confirm-email' | 'revert-email'): string {
  const link = mail.links.find((l) => l.includes(`/account/${page}#token=`));
  if (!link) throw new Error(`no /account/${page} link in "${mail.subject}"`);
  return new URLSearchParams(link.split('#')[1]).get('token')!;
}
