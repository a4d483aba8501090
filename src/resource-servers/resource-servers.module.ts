import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { SessionsModule } from '../sessions/sessions.module';
import { IntrospectionService } from './introspection.service';
import { ResourceServerGuard } from './resource-server.guard';
import { ResourceServersController } from './resource-servers.controller';
import { ResourceServersRepository } from './resource-servers.repository';
import { ResourceServersService } from './resource-servers.service';
import { FEED_HEARTBEAT_MS, HEARTBEAT_MS, RevocationFeed } from './revocation-feed.service';

/** Everything a resource server talks to: its credentials, introspection, the revocation feed. */
@Module({
  imports: [AuditModule, AuthModule, SessionsModule],
  controllers: [ResourceServersController],
  providers: [
    ResourceServersService,
    ResourceServersRepository,
    ResourceServerGuard,
    IntrospectionService,
    RevocationFeed,
    { provide: FEED_HEARTBEAT_MS, useValue: HEARTBEAT_MS },
  ],
  exports: [ResourceServersService],
})
export class ResourceServersModule {}
