import { DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '../config/config';
import { ConfigModule } from '../config/config.module';
import { CommonModule } from '../common/common.module';
import { DatabaseModule } from '../database/database.module';
import { RedisModule } from '../redis/redis.module';
import { MetricsModule } from '../metrics/metrics.module';
import { AdminModule } from '../admin/admin.module';
import { AuthModule } from '../auth/auth.module';
import { UsersModule } from '../users/users.module';

/** The application's services without the HTTP server, for operator commands. */
@Module({})
export class CliModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: CliModule,
      imports: [ConfigModule.forRoot(config), CommonModule.forRoot(config), DatabaseModule, RedisModule, MetricsModule, UsersModule, AuthModule, AdminModule],
    };
  }
}
