import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from './error-mapping';

export function sendError(reply: FastifyReply, error: unknown, request?: FastifyRequest): void {
  const { status, body, headers } = toErrorResponse(error);
  if (status >= 500 && status !== 503) {
    // The error itself is logged server-side; the client gets only the generic body.
    new Logger('Error').error({ err: error, reqId: request?.id }, 'unhandled error');
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
