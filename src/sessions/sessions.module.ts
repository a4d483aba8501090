import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { HousekeepingService } from './housekeeping.service';
import { RevocationFanOut } from './revocation-fan-out';
import { RevocationLog } from './revocation-log';
import { RevocationLogRepository } from './revocation-log.repository';
import { RevocationReader } from './revocation-reader';
import { RevocationSequencer } from './revocation-sequencer';
import { RevocationTail } from './revocation-tail';
import { RevocationRegistry } from './revocation-registry';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';

@Module({
  imports: [AuditModule],
  providers: [
    SessionsService,
    SessionsRepository,
    RevocationLogRepository,
    RevocationTail,
    RevocationReader,
    RevocationSequencer,
    RevocationFanOut,
    RevocationLog,
    RevocationRegistry,
    HousekeepingService,
  ],
  exports: [SessionsService, RevocationLog, RevocationRegistry, HousekeepingService],
})
export class SessionsModule {}
