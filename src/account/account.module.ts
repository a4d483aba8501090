import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { MailModule } from '../mail/mail.module';
import { MfaModule } from '../mfa/mfa.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AccountController } from './account.controller';
import { AccountExport } from './account-export';
import { ExportController } from './export.controller';
import { AccountLinks } from './account-links';
import { AccountLinksRepository } from './account-links.repository';
import { AccountMails } from './account-mails';
import { AccountService } from './account.service';
import { AccountPagesController } from './pages.controller';

/** Account recovery and e-mail: reset, verification, new-device alerts, the links they carry and the pages those open; the data export. */
@Module({
  imports: [AuthModule, MfaModule, UsersModule, SessionsModule, AuditModule, RateLimitModule, MailModule],
  controllers: [AccountController, ExportController, AccountPagesController],
  providers: [AccountService, AccountLinks, AccountLinksRepository, AccountMails, AccountExport],
  exports: [AccountService],
})
export class AccountModule {}
