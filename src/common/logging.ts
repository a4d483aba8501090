import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { LoggerOptions } from 'pino';

/** Everything that may carry a credential. pino replaces these with "[redacted]". */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-latchkey-csrf"]',
  'res.headers["set-cookie"]',
  'req.body',
  'password',
  'currentPassword',
  'newPassword',
  'refresh_token',
  'access_token',
  'token',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.refresh_token',
  '*.access_token',
  '*.token',
];

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Reuses a sane incoming X-Request-Id so one request can be followed across services. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** One pino configuration for Fastify's request logs and Nest's application logs. */
export function pinoOptions(config: { logLevel: string }): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // Method, path and client only: no headers, no query string (`?token=` must never reach a log).
      req: (req: { id: string; method: string; url: string; ip?: string; headers?: Record<string, unknown> }) => ({
        id: req.id,
        method: req.method,
        path: typeof req.url === 'string' ? req.url.split('?')[0] : undefined,
        ip: req.ip,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

export function loggerModuleParams(config: { logLevel: string }): Params {
  // Fastify owns the request logger (it is faster than a middleware); nestjs-pino reuses it.
  return { useExisting: true, pinoHttp: pinoOptions(config) };
}
