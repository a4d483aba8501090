import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/**
 * The clock of a latchkey run as a child process (support/processes.ts): its `env` turns on
 * TEST_CLOCK_FILE there (refused in production), and `advance` moves that process's time.
 */
export class ProcessClock {
  readonly file = join(mkdtempSync(join(tmpdir(), 'latchkey-clock-')), 'offset-ms');
  private offsetMs = 0;

  constructor() {
    writeFileSync(this.file, '0');
  }

  get env(): { TEST_CLOCK_FILE: string } {
    return { TEST_CLOCK_FILE: this.file };
  }

  advance(ms: number): void {
    this.offsetMs += ms;
    writeFileSync(this.file, String(this.offsetMs));
  }
}
