import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { AccountModule } from '../account/account.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AdminUsersRepository } from './admin-users.repository';
import { AdminController } from './admin.controller';
import { AdminResourceServersController } from './admin-resource-servers.controller';
import { ResourceServersModule } from '../resource-servers/resource-servers.module';
import { AdminService } from './admin.service';
import { DashboardController } from './dashboard.controller';
import { AdminFactorsController } from './admin-factors.controller';
import { MfaModule } from '../mfa/mfa.module';

@Module({
  imports: [AuthModule, UsersModule, SessionsModule, AuditModule, ResourceServersModule, AccountModule, MfaModule],
  controllers: [AdminController, AdminResourceServersController, AdminFactorsController, DashboardController],
  providers: [AdminService, AdminUsersRepository],
  exports: [AdminService],
})
export class AdminModule {}
