import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { HousekeepingService } from './housekeeping.service';
import { RevocationRegistry } from './revocation-registry';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';

@Module({
  imports: [AuditModule],
  providers: [SessionsService, SessionsRepository, RevocationRegistry, HousekeepingService],
  exports: [SessionsService, RevocationRegistry, HousekeepingService],
})
export class SessionsModule {}
