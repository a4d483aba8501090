import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from './error-mapping';

/**
 * The RFC 6749/7009 endpoints: they also take form bodies, their errors use the RFC's codes,
 * and nothing they answer is cached.
 */
export const OAUTH_ROUTES = new Set(['/auth/token', '/auth/revoke']);
const OAUTH_CODES = new Set(['invalid_request', 'invalid_grant', 'unsupported_grant_type']);

export function sendError(reply: FastifyReply, error: unknown, request?: FastifyRequest): void {
  let { status, body, headers } = toErrorResponse(error);
  if (request && OAUTH_ROUTES.has(request.url.split('?')[0])) {
    // A body that failed before the handler (malformed JSON, a pollution key, a repeated
    // field) is RFC 6749 §5.2 `invalid_request` here, with error_description.
    if (status === 400 && !OAUTH_CODES.has(body.error)) body = { statusCode: 400, error: 'invalid_request', message: body.message, error_description: body.message };
    headers = { ...headers, 'cache-control': 'no-store', pragma: 'no-cache' };
  }
  if (status >= 500 && status !== 503) {
    // The error itself is logged server-side; the client gets only the generic body.
    // Name, message and driver code only: a query error carries its bound parameters
    // (e-mail addresses, hashes), which must not reach the log.
    const e = error as { name?: string; message?: string; code?: string; driverError?: { code?: string } } | null;
    new Logger('Error').error({ error: { name: e?.name, message: e?.message, code: e?.driverError?.code ?? e?.code }, reqId: request?.id }, 'unhandled error');
  }
  reply.status(status).headers(headers).header('content-type', 'application/json; charset=utf-8').send(body);
}

/** Nest's half of the single error path; Fastify's own errors go through sendError too (main.ts). */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(http.getResponse<FastifyReply>(), exception, http.getRequest<FastifyRequest>());
  }
}
