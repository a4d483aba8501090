/**
 * Where the verifier reports what an operator should see: feed errors, ignored events, a stale feed.
 * Any logger fits through a small wrapper, e.g. for pino:
 * `{ warn: (m, d) => log.warn(d, m), error: (m, d) => log.error(d, m) }`.
 * Tokens are never passed to it.
 */
export interface Logger {
  debug?(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** The default: warnings and errors on stderr, nothing else. */
export const consoleLogger: Logger = {
  warn: (message, details) => console.warn(`[latchkey-verifier] ${message}`, details ?? ''),
  error: (message, details) => console.error(`[latchkey-verifier] ${message}`, details ?? ''),
};

export const silentLogger: Logger = { warn: () => undefined, error: () => undefined };
