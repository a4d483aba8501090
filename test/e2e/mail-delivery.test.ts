import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshDatabase, TEST_DB } from '../support/app';
import { Http, register, sleep, uniqueEmail } from '../support/http';
import { latchkeyProcess, ServiceProcess } from '../support/processes';
import { SmtpSink, tokenOf } from '../support/smtp';

const RESET = /Reset your/;
const VERIFY = /Confirm your e-mail/;
/** Generous bounds for "arrives", never asserted as timings: retries back off, and a killed sender's claim lapses after 30 s. */
const ARRIVES_WITHIN_MS = 90_000;

/** A failure carries the process's own log (warnings about failed attempts; never a token). */
async function withLogs<T>(process: ServiceProcess, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- latchkey log:\n${process.output.slice(-4000)}`, { cause: error });
  }
}

/** Each mail arrived exactly once: one per (recipient, subject), every Message-ID distinct. */
function exactlyOnce(smtp: SmtpSink, expected: Array<{ to: string; subject: RegExp }>): void {
  for (const { to, subject } of expected) assert.equal(smtp.to(to, subject).length, 1, `${to} ${subject}`);
  const ids = smtp.received.map((m) => m.messageId);
  assert.equal(new Set(ids).size, ids.length, 'no Message-ID twice');
}

/**
 * A latchkey process on a fresh database, pointed at an SMTP server that is down until the test
 * starts it; everything is stopped and dropped afterwards, whatever happened.
 */
async function withSmtpDown(test: (smtp: SmtpSink, latchkey: ServiceProcess, http: Http) => Promise<void>): Promise<void> {
  const smtp = await SmtpSink.start();
  await smtp.stop();
  const db = freshDatabase();
  const latchkey = await latchkeyProcess(db, { SMTP_URL: smtp.url });
  try {
    await latchkey.start();
    await test(smtp, latchkey, new Http(latchkey.url));
  } finally {
    await latchkey.stop();
    await smtp.stop();
    await db.drop();
  }
}

describe(`mail delivery through the outbox, with real processes and a real SMTP server [${TEST_DB}]`, () => {
  it('the SMTP server is down when the reset is asked for: still 202, and the mail arrives once it is back, its link valid', () =>
    withSmtpDown(async (smtp, latchkey, http) => {
      const user = await register(http);
      assert.equal((await http.post('/auth/password/forgot', { email: user.email })).status, 202);
      await sleep(2500); // a few attempts fail meanwhile
      assert.equal(smtp.received.length, 0);
      await smtp.start();
      // Both waiting mails arrive (the verification first: a reset would make it moot, as it proves the address too).
      await withLogs(latchkey, smtp.next(user.email, VERIFY, ARRIVES_WITHIN_MS));
      const mail = await withLogs(latchkey, smtp.next(user.email, RESET, ARRIVES_WITHIN_MS));
      const reset = await http.post('/auth/password/reset', { token: tokenOf(mail, 'reset-password'), newPassword: 'after the outage' });
      assert.equal(reset.status, 200, reset.text);
    }));

  it('SIGKILL with mails in the outbox: after a restart every one of them is delivered, once', () =>
    withSmtpDown(async (smtp, latchkey, http) => {
      const users = [];
      for (let i = 0; i < 20; i++) users.push(await register(http, uniqueEmail('killed-outbox')));
      await latchkey.kill();
      await smtp.start();
      await latchkey.start();
      for (const user of users) await withLogs(latchkey, smtp.next(user.email, VERIFY, ARRIVES_WITHIN_MS));
      await sleep(1500); // anything sent twice would arrive now
      exactlyOnce(
        smtp,
        users.map((u) => ({ to: u.email, subject: VERIFY })),
      );
    }));

  it('two instances sending from one outbox deliver every mail once', async () => {
    const smtp = await SmtpSink.start();
    const db = freshDatabase();
    const a = await latchkeyProcess(db, { SMTP_URL: smtp.url });
    const b = await latchkeyProcess(db, { SMTP_URL: smtp.url });
    try {
      await a.start();
      await b.start();
      const [httpA, httpB] = [new Http(a.url), new Http(b.url)];
      const users = [];
      for (let i = 0; i < 15; i++) users.push(await register(i % 2 ? httpA : httpB, uniqueEmail('two-senders')));
      await Promise.all(users.map((u, i) => (i % 2 ? httpB : httpA).post('/auth/password/forgot', { email: u.email })));
      for (const user of users) {
        await smtp.next(user.email, VERIFY, ARRIVES_WITHIN_MS);
        await smtp.next(user.email, RESET, ARRIVES_WITHIN_MS);
      }
      await sleep(2500); // both instances poll every second: a double send would arrive now
      exactlyOnce(
        smtp,
        users.flatMap((u) => [
          { to: u.email, subject: VERIFY },
          { to: u.email, subject: RESET },
        ]),
      );
    } finally {
      await b.stop();
      await a.stop();
      await smtp.stop();
      await db.drop();
    }
  });
});
