import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMailTransport, MailTransport, OutgoingMail } from '../../src/mail/mail-transport';
import { SmtpSink } from '../support/smtp';

const mail = (id: string): OutgoingMail => ({
  id,
  messageId: `<${id}@example.test>`,
  to: 'someone@example.test',
  subject: `Mail ${id}`,
  text: 'hello',
  html: '<p>hello</p>',
  links: [],
});

describe('SMTP transport', () => {
  let smtp: SmtpSink;
  let transport: MailTransport;

  before(async () => {
    smtp = await SmtpSink.start();
    transport = createMailTransport({ smtpUrl: smtp.url, mailFrom: 'latchkey <no-reply@example.test>', dataDir: '/nonexistent' });
  });
  after(async () => {
    transport.close();
    await smtp.stop();
  });

  it("delivers a message and resolves on the server's 250", async () => {
    await transport.send(mail('first'), AbortSignal.timeout(10_000));
    assert.equal(smtp.to('someone@example.test', /Mail first/).length, 1);
  });

  it('an attempt that runs out of time is cancelled, so it cannot go out behind its own retry', async () => {
    smtp.delayMs = 1500;
    try {
      await assert.rejects(transport.send(mail('slow'), AbortSignal.timeout(300)), (error: Error) =>
        /abort/i.test(`${error.name} ${error.message} ${(error as { code?: string }).code}`),
      );
      // The abandoned send would have been accepted here, 1.5 s after its data.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.equal(smtp.to('someone@example.test', /Mail slow/).length, 0, 'the server never kept the cancelled message');
    } finally {
      smtp.delayMs = 0;
    }
    await transport.send(mail('after'), AbortSignal.timeout(10_000));
    assert.equal(smtp.to('someone@example.test', /Mail after/).length, 1, 'the pool still delivers');
  });
});
