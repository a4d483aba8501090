import { applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiConsumes } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiErrorResponse } from './openapi';

/**
 * What a route is, as far as the HTTP plumbing cares. Set by the decorators below on the
 * Fastify route itself, so the content-type hook, the exception filter and the header hook
 * read it from the request: renaming or adding a route cannot silently change its behaviour.
 */
export interface RouteFlags {
  /** An RFC 6749/7009/7662 endpoint: errors use the RFC's codes, with error_description. */
  oauth?: boolean;
  /** Takes application/x-www-form-urlencoded bodies (the RFCs give these endpoints forms). */
  form?: boolean;
  /** Answers carry credentials or personal data: Cache-Control: no-store on every answer, errors included. */
  noStore?: boolean;
  /** Every answer, success or error, to a request no other site can make clears the refresh cookie (sign-out routes; auth/refresh-cookie.ts). */
  clearsRefreshCookie?: boolean;
  /** Hashes a password: shed with 503 at the door, before the body is read, while hashing is saturated. */
  hashesPassword?: boolean;
}

export function routeFlags(request: FastifyRequest | undefined): RouteFlags {
  return (request?.routeOptions?.config as RouteFlags | undefined) ?? {};
}

/** An OAuth endpoint: RFC 6749 §5.2 errors, never cached, and (for POSTs) form or JSON bodies. */
export function OAuthEndpoint(errorCodes: string, flags: RouteFlags = {}): MethodDecorator {
  const form = flags.form ?? true;
  return applyDecorators(
    RouteConfig({ oauth: true, noStore: true, ...flags, form } satisfies RouteFlags),
    ...(form ? [ApiConsumes('application/x-www-form-urlencoded', 'application/json')] : []),
    ApiErrorResponse(400, `${errorCodes} (RFC 6749 §5.2, with error_description)`),
  );
}

/** A route whose answer carries tokens (login, password change): never cached. */
export function IssuesTokens(flags: RouteFlags = {}): MethodDecorator {
  return RouteConfig({ noStore: true, ...flags } satisfies RouteFlags);
}

/** A route whose answer holds personal data (the data export): never cached, errors included. */
export function NoStore(): MethodDecorator {
  return RouteConfig({ noStore: true } satisfies RouteFlags);
}

/** A route that hashes a password (registration): shed at the door while hashing is saturated. */
export function HashesPassword(): MethodDecorator {
  return RouteConfig({ hashesPassword: true } satisfies RouteFlags);
}

/** A sign-out route: every answer to a request no other site can make clears the refresh cookie, whatever else happens. */
export function ClearsRefreshCookie(): MethodDecorator {
  return RouteConfig({ clearsRefreshCookie: true } satisfies RouteFlags);
}

/** The media type of a Content-Type header, lower-cased (media types are case-insensitive); null when absent. */
export function mediaType(header: string | undefined): string | null {
  if (!header) return null;
  return header.split(';', 1)[0].trim().toLowerCase();
}

export const FORM = 'application/x-www-form-urlencoded';
