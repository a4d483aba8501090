import { readFileSync } from 'node:fs';
import { Injectable } from '@nestjs/common';

/**
 * The time, as one provider: every decision by time (expiry, grace and rate-limit windows,
 * lockouts, retention, the throttling of writes and warnings) asks it, so a test can move it:
 * in-process with `Test.createTestingModule(…).overrideProvider(Clock)`, in a child process
 * with TEST_CLOCK_FILE (FileOffsetClock). Only durations measured for logs and metrics (a
 * request's latency) may read real time: they decide nothing.
 */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}

/**
 * Tests only (TEST_CLOCK_FILE, which config refuses in production): real time plus the
 * milliseconds written in a file, read at every call, so a test can move the clock of a
 * latchkey it runs as a child process. A missing or unreadable file is no offset.
 */
export class FileOffsetClock extends Clock {
  constructor(private readonly file: string) {
    super();
  }

  override now(): number {
    let offset = 0;
    try {
      offset = Number(readFileSync(this.file, 'utf8').trim()) || 0;
    } catch {
      // no file yet: no offset
    }
    return Date.now() + offset;
  }
}
