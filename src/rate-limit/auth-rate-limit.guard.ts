import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  ThrottlerLimitDetail,
  ThrottlerModuleOptions,
  ThrottlerStorage,
} from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import { clientContextOf, clientKey } from '../common/client-context';
import { RateLimitEvents } from './rate-limit-events';
import { MetricsService } from '../metrics/metrics.service';

/**
 * AUTH_RATE_LIMIT on @nestjs/throttler: one counter per client address over every route
 * marked @AuthRateLimit() (login, register, forgot-password). Every attempt counts,
 * successful or not, valid body or not: the guard runs before validation. The address is
 * Fastify's `request.ip`, which believes X-Forwarded-For only as far as TRUST_PROXY says, and
 * IPv6 clients are counted per /64 (one host commonly holds a whole /64). Past the limit:
 * the contract's 429 with Retry-After; the first refusal of each window is audited.
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(RateLimitEvents) private readonly events: RateLimitEvents,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {
    super(options, storage, reflector);
  }

  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    return clientKey((request as unknown as FastifyRequest).ip);
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    this.metrics.rateLimited.inc({ kind: 'ip' });
    if (detail.totalHits === detail.limit + 1) {
      await this.events.limited('ip', null, clientContextOf(context.switchToHttp().getRequest<FastifyRequest>()));
    }
    throw ApiError.tooManyRequests(detail.timeToBlockExpire);
  }
}
