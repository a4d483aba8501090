import { DynamicModule, Global, Module } from '@nestjs/common';
import { Clock, FileOffsetClock } from './clock';

/** Providers every module may use and a test may override: the clock. */
@Global()
@Module({ providers: [Clock], exports: [Clock] })
export class CommonModule {
  /** With the configuration's test-only TEST_CLOCK_FILE (refused in production), a clock a test moves through that file. */
  static forRoot(config: { testClockFile: string | null }): DynamicModule {
    return {
      module: CommonModule,
      providers: [{ provide: Clock, useValue: config.testClockFile ? new FileOffsetClock(config.testClockFile) : new Clock() }],
      exports: [Clock],
    };
  }
}
