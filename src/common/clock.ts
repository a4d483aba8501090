import { Injectable } from '@nestjs/common';

/**
 * The time, as one provider: services that decide by time (chain expiry, the reuse grace
 * window) ask it, so a test can override it with `Test.createTestingModule(…).overrideProvider(Clock)`.
 */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}
