import { ArgumentsHost, Catch, ExceptionFilter, Inject, Logger, Optional } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describeDatabaseError, driverCode, isDatabaseUnavailable } from './database-errors';
import { toErrorResponse } from './error-mapping';
import { ClientGone } from './client-gone';
import { routeFlags } from './route-flags';

const OAUTH_CODES = new Set(['invalid_request', 'invalid_grant', 'unsupported_grant_type', 'invalid_client', 'invalid_dpop_proof']);
const logger = new Logger('Error');

/**
 * The single error path: Nest's exceptions (ApiExceptionFilter) and Fastify's own
 * (frameworkErrors, the error handler) all answer through here.
 */
export function sendError(reply: FastifyReply, error: unknown, request?: FastifyRequest): void {
  const response = toErrorResponse(error);
  const { status, headers } = response;
  let { body } = response;
  if (routeFlags(request).oauth && status === 400 && !OAUTH_CODES.has(body.error)) {
    // A body that failed before the handler (malformed JSON, a pollution key, a repeated
    // field) is RFC 6749 §5.2 `invalid_request` on an OAuth endpoint, with error_description.
    body = { statusCode: 400, error: 'invalid_request', message: body.message, error_description: body.message };
  }
  if (error instanceof ClientGone) return; // nobody to answer, and nothing went wrong
  if (status >= 500) {
    // Logged server-side; the client gets only the generic body. Name, message and driver
    // code only: a query error carries its bound parameters (e-mail addresses, hashes).
    const e = error as { message?: string } | null;
    const cause = describeDatabaseError(error);
    // A deliberate 503 (load shedding) is counted and logged where it is decided, not per request.
    if (status === 503) {
      if (isDatabaseUnavailable(error)) logger.warn({ error: cause, reqId: request?.id }, 'answered 503: the database is unavailable');
    } else logger.error({ error: { ...cause, message: e?.message }, reqId: request?.id }, 'unhandled error');
  }
  reply.status(status).headers(headers).header('content-type', 'application/json; charset=utf-8').send(body);
}

/** Injection token: how the filter counts database failures (the metrics module provides it). */
export const DATABASE_ERROR_COUNTER = Symbol('DATABASE_ERROR_COUNTER');

/** Statement or connection timeouts, as opposed to a database that refuses or is gone. */
const TIMEOUT_CODES = new Set(['PROTOCOL_SEQUENCE_TIMEOUT', 'ER_QUERY_TIMEOUT', 'ER_STATEMENT_TIMEOUT', 'ETIMEDOUT', 'ER_LOCK_WAIT_TIMEOUT']);

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(@Optional() @Inject(DATABASE_ERROR_COUNTER) private readonly countDatabaseError?: (kind: 'timeout' | 'unavailable' | 'error') => void) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    if (this.countDatabaseError && isDatabaseUnavailable(exception))
      this.countDatabaseError(TIMEOUT_CODES.has(driverCode(exception) ?? '') ? 'timeout' : 'unavailable');
    else if (this.countDatabaseError && exception instanceof QueryFailedError) this.countDatabaseError('error');
    sendError(http.getResponse<FastifyReply>(), exception, http.getRequest<FastifyRequest>());
  }
}
