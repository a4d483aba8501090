import type { TestContext } from 'node:test';
import { createVerifier, type Logger, type Verifier, type VerifierOptions } from '../src';
import type { FakeIssuer } from './fake-issuer';

/**
 * Retries `check` until it passes, at most `attempts` times: for effects that arrive over the feed.
 * It bounds the number of tries, and asserts nothing about how long anything took.
 */
export async function eventually<T>(check: () => Promise<T> | T, attempts = 200, pauseMs = 25): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await check();
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
  throw last;
}

/** A clock the test moves by hand; it starts at the real time. */
export class Clock {
  ms = Date.now();
  readonly now = (): number => this.ms;
  get seconds(): number {
    return Math.floor(this.ms / 1000);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface LogEntry {
  level: 'warn' | 'error' | 'info';
  message: string;
  details?: Record<string, unknown>;
}

/** A logger that keeps what it is told, so tests stay quiet and can check what was reported. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    warn: (message, details) => entries.push({ level: 'warn', message, details }),
    error: (message, details) => entries.push({ level: 'error', message, details }),
    info: (message, details) => entries.push({ level: 'info', message, details }),
  };
}

/** A verifier following `issuer`, with fast retries and a recording logger, closed after the test. */
export function verifierFor(t: TestContext, issuer: FakeIssuer, options: Partial<VerifierOptions> = {}): Verifier & { log: LogEntry[] } {
  const logger = recordingLogger();
  const verifier = createVerifier({ ...issuer.verifierOptions, logger, retry: { minDelay: 20, maxDelay: 200 }, ...options });
  t.after(() => verifier.close());
  return Object.assign(verifier, { log: logger.entries });
}
