import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AdminUsersRepository } from './admin-users.repository';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';
import { DashboardController } from './dashboard.controller';

@Module({
  imports: [AuthModule, UsersModule, SessionsModule, AuditModule],
  controllers: [AdminController, DashboardController],
  providers: [AdminService, AdminUsersRepository],
})
export class AdminModule {}
