import { Global, Module } from '@nestjs/common';
import { DATABASE_ERROR_COUNTER } from '../common/exception.filter';
import { MetricsService } from './metrics.service';

/** Prometheus metrics (METRICS_PORT); every module may count through it. */
@Global()
@Module({
  providers: [
    MetricsService,
    {
      provide: DATABASE_ERROR_COUNTER,
      inject: [MetricsService],
      useFactory: (metrics: MetricsService) => (kind: string) => metrics.databaseErrors.inc({ kind }),
    },
  ],
  exports: [MetricsService, DATABASE_ERROR_COUNTER],
})
export class MetricsModule {}
