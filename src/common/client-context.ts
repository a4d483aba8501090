import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { isIPv6 } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

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

/** Aborts when the client hangs up before its answer, so queued work for it can be dropped. */
export const HangUp = createParamDecorator((_: unknown, ctx: ExecutionContext): AbortSignal => {
  const response = ctx.switchToHttp().getResponse<FastifyReply>().raw;
  const hangUp = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) hangUp.abort();
  });
  return hangUp.signal;
});

/** Who caused a change, as recorded on its audit events: a user or admin (actorId) and their client. */
export interface Actor {
  actorId: string | null;
  client: ClientContext | null;
}

export const SYSTEM_ACTOR: Actor = { actorId: null, client: null };

/**
 * The key a per-client rate limit counts under: an IPv4 address as it is, an IPv6 address by
 * its /64 (one host commonly holds a whole /64, so counting single addresses would let it
 * rotate through 2^64 of them). IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function clientKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!isIPv6(ip)) return ip;
  const [head, tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
