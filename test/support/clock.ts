import { Clock } from '../../src/common/clock';

/** A Clock that moves only when the test says so: override the app's with `{ provide: Clock, useValue: clock }`. */
export class FakeClock extends Clock {
  constructor(public time = Date.now()) {
    super();
  }
  override now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** Real time plus an offset the test can move: for "later" without freezing everything else. */
export class ShiftedClock extends Clock {
  offsetMs = 0;
  override now(): number {
    return Date.now() + this.offsetMs;
  }
}
