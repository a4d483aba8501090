import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { MailModule } from '../mail/mail.module';
import { PasswordService } from './password.service';
import { HashingPool } from './hashing-pool';
import { UsersController } from './users.controller';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

@Module({
  imports: [AuditModule, RateLimitModule, MailModule],
  controllers: [UsersController],
  providers: [UsersService, UsersRepository, PasswordService, HashingPool],
  exports: [UsersService, PasswordService, HashingPool],
})
export class UsersModule {}
