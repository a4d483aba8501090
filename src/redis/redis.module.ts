import { Global, Module } from '@nestjs/common';
import { RedisService } from './redis.service';

/** The optional Redis behind cross-instance fan-out and shared counters. */
@Global()
@Module({ providers: [RedisService], exports: [RedisService] })
export class RedisModule {}
