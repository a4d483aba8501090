import { Module } from '@nestjs/common';
import { MailOutbox } from './mail-outbox';
import { MailOutboxRepository } from './mail-outbox.repository';
import { MailSender } from './mail-sender';

/** The transactional outbox and its sender. What each kind of mail says is registered by the module it is about. */
@Module({
  providers: [MailOutbox, MailOutboxRepository, MailSender],
  exports: [MailOutbox, MailSender],
})
export class MailModule {}
