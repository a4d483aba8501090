import { Global, Module } from '@nestjs/common';
import { Clock } from './clock';

/** Providers every module may use and a test may override: the clock. */
@Global()
@Module({ providers: [Clock], exports: [Clock] })
export class CommonModule {}
