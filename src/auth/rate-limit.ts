import { ExecutionContext, Global, Inject, Injectable, Logger, Module, OnApplicationShutdown, UseGuards, applyDecorators } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { InjectThrottlerOptions, InjectThrottlerStorage, ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModule, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { clientContextOf } from '../common/client-context';
import { AuditModule } from '../audit/audit.module';
import { AuditService } from '../audit/audit.service';
import { LoginLockoutService, RATE_LIMIT_STORE, rateLimitKey, recordRateLimited } from './login-lockout.service';
import { CounterStore, CounterThrottlerStorage, MemoryCounterStore, RedisCounterStore } from './rate-limit.store';

/** The one throttler: AUTH_RATE_LIMIT, per client IP, over login and register together. */
const THROTTLER = 'auth';

/**
 * AUTH_RATE_LIMIT on @nestjs/throttler. Login and register share one counter per client IP
 * (`request.ip`, which honours X-Forwarded-For only with TRUST_PROXY). Every attempt counts,
 * successful or not, valid body or not: the guard runs before validation. The answer past the
 * limit is the contract's 429 `too_many_requests` with Retry-After, and the first refusal of
 * each window is audited as `rate_limited` {kind: 'ip'}.
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  private readonly log = new Logger('RateLimit');

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly audit: AuditService,
  ) {
    super(options, storage, reflector);
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return rateLimitKey(this.config.redisKeyPrefix, 'ip', `${name}:${tracker}`);
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    if (detail.totalHits === detail.limit + 1) {
      const client = clientContextOf(context.switchToHttp().getRequest<FastifyRequest>());
      await recordRateLimited(this.audit, this.log, { kind: 'ip', userId: null, client });
    }
    throw ApiError.tooManyRequests(detail.timeToBlockExpire);
  }
}

/** Marks a route as one of the AUTH_RATE_LIMIT routes (login, register). */
export function AuthRateLimit(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseGuards(AuthRateLimitGuard), ApiTooManyRequestsResponse({ description: 'too_many_requests, with Retry-After' }));
}

/** Closes the Redis connection of the counters on shutdown. */
@Injectable()
class CounterStoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_STORE) private readonly store: CounterStore) {}
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

function createStore(config: AppConfig): CounterStore {
  return config.redisUrl ? new RedisCounterStore(config.redisUrl) : new MemoryCounterStore();
}

@Global()
@Module({ imports: [AuditModule], providers: [{ provide: RATE_LIMIT_STORE, inject: [APP_CONFIG], useFactory: createStore }], exports: [RATE_LIMIT_STORE] })
class CounterStoreModule {}

/**
 * Both rate limits over one CounterStore (memory, or Redis with REDIS_URL). Global, so the
 * guard can sit on routes of any module (register lives in UsersModule).
 */
@Global()
@Module({
  imports: [
    AuditModule,
    CounterStoreModule,
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, RATE_LIMIT_STORE],
      useFactory: (config: AppConfig, store: CounterStore): ThrottlerModuleOptions => ({
        throttlers: [
          {
            name: THROTTLER,
            limit: config.authRateLimit?.limit ?? 1,
            ttl: (config.authRateLimit?.windowSeconds ?? 60) * 1000,
          },
        ],
        skipIf: () => config.authRateLimit === null,
        setHeaders: false,
        storage: new CounterThrottlerStorage(store),
      }),
    }),
  ],
  providers: [AuthRateLimitGuard, LoginLockoutService, CounterStoreLifecycle],
  exports: [AuthRateLimitGuard, LoginLockoutService, AuditModule],
})
export class RateLimitModule {}
