import { Module } from '@nestjs/common';
import { CounterStore } from './counter-store';

/** The one CounterStore, shared by the throttler's storage and the lockout. */
@Module({ providers: [CounterStore], exports: [CounterStore] })
export class CounterStoreModule {}
