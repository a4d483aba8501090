import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** Who is on the other end, as recorded on sessions and audit events. */
export interface ClientContext {
  ip: string | null;
  userAgent: string | null;
}

export function clientContextOf(request: FastifyRequest): ClientContext {
  const ua = request.headers['user-agent'];
  return {
    // request.ip honours X-Forwarded-For only when TRUST_PROXY is on (set on the Fastify instance).
    ip: request.ip ? request.ip.slice(0, 64) : null,
    userAgent: typeof ua === 'string' && ua.length > 0 ? ua.slice(0, 512) : null,
  };
}

export const Client = createParamDecorator((_: unknown, ctx: ExecutionContext): ClientContext => clientContextOf(ctx.switchToHttp().getRequest()));
