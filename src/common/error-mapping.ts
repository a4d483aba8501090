import { HttpException } from '@nestjs/common';
import { ApiError, ErrorBody } from './api-error';
import { isDatabaseUnavailable, isUniqueViolation } from './database-errors';

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'validation_failed',
  401: 'invalid_token',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'request_header_fields_too_large',
  503: 'service_unavailable',
};

/** Unique indexes and the contract's error for each. */
const UNIQUE_CONFLICTS: Array<{ match: RegExp; code: string; message: string }> = [
  { match: /UQ_users_email|users\.email/, code: 'email_taken', message: 'That e-mail address is already registered.' },
  // Passkeys: a credential id names one authenticator's key, registered once across all accounts.
  { match: /UQ_mfa_factors_credential|mfa_factors\.credential_id/, code: 'factor_exists', message: 'This authenticator is already registered.' },
];

/**
 * Turns any thrown value into the contract's error body (docs/API.md). The one place that decides what a client
 * sees of a failure: never a stack trace, SQL, or the value that collided.
 */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof ApiError) return { status: error.statusCode, body: error.body(), headers: error.headers };

  if (isUniqueViolation(error)) {
    const conflict = UNIQUE_CONFLICTS.find((c) => c.match.test(error.message));
    return {
      status: 409,
      body: { statusCode: 409, error: conflict?.code ?? 'conflict', message: conflict?.message ?? 'This conflicts with an existing record.' },
      headers: {},
    };
  }
  if (isDatabaseUnavailable(error)) {
    const e = ApiError.serviceUnavailable();
    return { status: 503, body: e.body(), headers: e.headers };
  }

  if (error instanceof HttpException) {
    const status = error.getStatus();
    const message = status === 404 ? 'Not found.' : status >= 500 ? 'Internal server error.' : error.message;
    return { status, body: { statusCode: status, error: CODE_BY_STATUS[status] ?? 'error', message }, headers: {} };
  }

  // Fastify's own errors (body parsing, content type, limits) carry a 4xx statusCode.
  const fe = error as { statusCode?: number; code?: string } | null;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // An over-long path parameter is a malformed id (docs/API.md: 400), not a 414.
    const status = fe.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 400 : fe.statusCode;
    const message = FASTIFY_MESSAGES[fe.code ?? ''] ?? 'The request could not be processed.';
    return { status, body: { statusCode: status, error: CODE_BY_STATUS[status] ?? 'bad_request', message }, headers: {} };
  }

  return { status: 500, body: { statusCode: 500, error: 'internal_error', message: 'Internal server error.' }, headers: {} };
}

const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty but the content type says JSON.',
  FST_ERR_CTP_BODY_TOO_LARGE: 'The body is larger than 64 KiB.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'This content type is not supported; send application/json.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the body.',
  FST_ERR_CTP_INVALID_TYPE: 'The Content-Type header is not valid.',
  FST_ERR_BAD_URL: 'The URL is not valid (bad percent-encoding).',
  FST_ERR_MAX_PARAM_LENGTH: 'A path parameter is too long.',
};

/**
 * Node rejects some requests before Fastify or Nest see them (headers over 16 KiB, malformed
 * HTTP, a request that took too long); this writes those answers in the contract's shape too.
 */
export function clientErrorResponse(error: { code?: string }): { status: number; reason: string; body: ErrorBody } {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      reason: 'Request Header Fields Too Large',
      body: { statusCode: 431, error: 'request_header_fields_too_large', message: 'The request headers are larger than 16 KiB.' },
    };
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, reason: 'Request Timeout', body: { statusCode: 408, error: 'request_timeout', message: 'The request took too long to arrive.' } };
  }
  return { status: 400, reason: 'Bad Request', body: { statusCode: 400, error: 'validation_failed', message: 'The request is not valid HTTP.' } };
}
