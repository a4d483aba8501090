import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, OpenAPIObject } from '@nestjs/swagger';

/** The contract's error body (docs/API.md), as the OpenAPI document shows it. */
export class ErrorBodyView {
  @ApiProperty() statusCode: number;
  @ApiProperty({ description: 'Machine-readable code, e.g. invalid_token.' }) error: string;
  @ApiProperty() message: string;
  @ApiPropertyOptional({
    description: 'Validation errors: one entry per field.',
    type: 'array',
    items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
  })
  details?: Array<{ field: string; message: string }>;
  @ApiPropertyOptional({ description: 'RFC 6749 §5.2, on the OAuth endpoints.' }) error_description?: string;
}

/** One documented error answer: its status and the contract codes it carries. */
export function ApiErrorResponse(status: number, description: string): MethodDecorator & ClassDecorator {
  return ApiResponse({ status, description, type: ErrorBodyView });
}

export const RATE_LIMITED = () => ApiErrorResponse(429, 'too_many_requests: a rate limit or lockout; see Retry-After.');
export const UNAUTHENTICATED = () =>
  ApiErrorResponse(401, 'invalid_token: the access token is missing, invalid, expired or revoked (WWW-Authenticate says which).');
export const NOT_ADMIN = () => ApiErrorResponse(403, 'forbidden: this needs an administrator.');
export const UNAVAILABLE = () => ApiErrorResponse(503, 'service_unavailable: the database does not answer; retry after Retry-After.');

export interface EndpointOptions {
  /** False for the few routes that never touch the database (no 503). */
  database?: boolean;
}

/** Every operation: a one-line summary, and the 503 of a database outage unless it needs none. */
export function Endpoint(summary: string, options: EndpointOptions = {}): MethodDecorator {
  return applyDecorators(ApiOperation({ summary }), ...(options.database === false ? [] : [UNAVAILABLE()]));
}

/**
 * The answers every operation with a request body or parameters can give, added to the
 * document from what the validation pipe is driven by (the @Body/@Query/@Param types): 400
 * validation_failed, and for bodies 413 and 415. Explicit entries (e.g. the OAuth routes' 400)
 * are kept.
 */
export function addInputErrors(document: OpenAPIObject): OpenAPIObject {
  const ref = { $ref: '#/components/schemas/ErrorBodyView' };
  const add = (responses: Record<string, unknown>, status: string, description: string) => {
    responses[status] ??= { description, content: { 'application/json': { schema: ref } } };
  };
  for (const path of Object.values(document.paths)) {
    for (const operation of Object.values(path) as Array<{ responses?: Record<string, unknown>; requestBody?: unknown; parameters?: unknown[] }>) {
      if (!operation || typeof operation !== 'object' || !operation.responses) continue;
      if (operation.requestBody || operation.parameters?.length)
        add(operation.responses, '400', 'validation_failed: the request is not valid (details name each field).');
      if (operation.requestBody) {
        add(operation.responses, '413', 'payload_too_large: the body is over 64 KiB.');
        add(operation.responses, '415', 'unsupported_media_type: send application/json.');
      }
    }
  }
  return document;
}
