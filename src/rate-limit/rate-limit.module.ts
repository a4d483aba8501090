import { Module, UseGuards, applyDecorators } from '@nestjs/common';
import { ThrottlerModule, ThrottlerModuleOptions } from '@nestjs/throttler';
import { APP_CONFIG, AppConfig } from '../config/config';
import { AuditModule } from '../audit/audit.module';
import { AuthRateLimitGuard } from './auth-rate-limit.guard';
import { CounterStore } from './counter-store';
import { CounterStoreModule } from './counter-store.module';
import { LoginLockoutService } from './login-lockout.service';
import { MfaLockoutService } from './mfa-lockout.service';
import { AccountLimits } from './account-limits';
import { RateLimitEvents } from './rate-limit-events';
import { CounterThrottlerStorage } from './throttler-storage';
import { RATE_LIMITED } from '../common/openapi';

/** The throttler's one named limit: AUTH_RATE_LIMIT. */
const THROTTLER = 'auth';

/** Marks a route as one of the AUTH_RATE_LIMIT routes; its OpenAPI entry gains the 429. */
export function AuthRateLimit(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseGuards(AuthRateLimitGuard), RATE_LIMITED());
}

/** The rate limits (per client address, per e-mail address, per account) over one CounterStore. */
@Module({
  imports: [
    AuditModule,
    CounterStoreModule,
    ThrottlerModule.forRootAsync({
      imports: [CounterStoreModule],
      inject: [APP_CONFIG, CounterStore],
      useFactory: (config: AppConfig, store: CounterStore): ThrottlerModuleOptions => ({
        throttlers: [{ name: THROTTLER, limit: config.authRateLimit?.limit ?? 1, ttl: (config.authRateLimit?.windowSeconds ?? 60) * 1000 }],
        skipIf: () => config.authRateLimit === null,
        setHeaders: false,
        storage: new CounterThrottlerStorage(store),
      }),
    }),
  ],
  providers: [RateLimitEvents, AuthRateLimitGuard, LoginLockoutService, MfaLockoutService, AccountLimits],
  exports: [CounterStoreModule, RateLimitEvents, AuthRateLimitGuard, LoginLockoutService, MfaLockoutService, AccountLimits, ThrottlerModule],
})
export class RateLimitModule {}
