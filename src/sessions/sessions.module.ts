import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RevocationRegistry } from './revocation-registry';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';

@Module({
  imports: [AuditModule],
  providers: [SessionsService, SessionsRepository, RevocationRegistry],
  exports: [SessionsService, RevocationRegistry],
})
export class SessionsModule {}
