import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { ScheduleModule } from '@nestjs/schedule';
import type { AppConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { CommonModule } from './common/common.module';
import { RedisModule } from './redis/redis.module';
import { MetricsModule } from './metrics/metrics.module';
import { DatabaseModule } from './database/database.module';
import { ApiExceptionFilter } from './common/exception.filter';
import { StrictValidationPipe } from './common/validation';
import { loggerModuleParams } from './common/logging';
import { HealthModule } from './health/health.module';
import { AuditModule } from './audit/audit.module';
import { UsersModule } from './users/users.module';
import { SessionsModule } from './sessions/sessions.module';
import { AuthModule } from './auth/auth.module';
import { AdminModule } from './admin/admin.module';
import { ResourceServersModule } from './resource-servers/resource-servers.module';
import { MailModule } from './mail/mail.module';
import { AccountModule } from './account/account.module';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        CommonModule.forRoot(config),
        LoggerModule.forRoot(loggerModuleParams(config)),
        DatabaseModule,
        RedisModule,
        MetricsModule,
        ScheduleModule.forRoot(),
        HealthModule,
        AuditModule,
        UsersModule,
        SessionsModule,
        MailModule,
        AuthModule,
        AccountModule,
        ResourceServersModule,
        AdminModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        { provide: APP_PIPE, useClass: StrictValidationPipe },
      ],
    };
  }
}
