import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { HousekeepingService } from './housekeeping.service';
import { RevocationLog } from './revocation-log';
import { RevocationRegistry } from './revocation-registry';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';

@Module({
  imports: [AuditModule],
  providers: [SessionsService, SessionsRepository, RevocationLog, RevocationRegistry, HousekeepingService],
  exports: [SessionsService, RevocationLog, RevocationRegistry, HousekeepingService],
})
export class SessionsModule {}
