import { HttpException } from '@nestjs/common';

export interface FieldError {
  field: string;
  message: string;
}

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: FieldError[];
  error_description?: string;
}

/**
 * The one error type services throw. Its body is API.md's error body; `headers` carries
 * what the status needs (WWW-Authenticate, Retry-After, Cache-Control).
 */
export class ApiError extends HttpException {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Partial<Pick<ErrorBody, 'details' | 'error_description'>> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message, statusCode);
  }

  body(): ErrorBody {
    return { statusCode: this.statusCode, error: this.code, message: this.message, ...this.extra };
  }

  static validation(details: FieldError[], message = 'The request is not valid.'): ApiError {
    return new ApiError(400, 'validation_failed', message, { details });
  }
  static invalidCredentials(): ApiError {
    return new ApiError(401, 'invalid_credentials', 'The e-mail address or password is wrong.');
  }
  static invalidToken(tokenSent: boolean, message = 'The access token is missing, invalid, expired or revoked.'): ApiError {
    return new ApiError(401, 'invalid_token', message, {}, { 'www-authenticate': tokenSent ? 'Bearer error="invalid_token"' : 'Bearer' });
  }
  static forbidden(message = 'You are not allowed to do this.'): ApiError {
    return new ApiError(403, 'forbidden', message);
  }
  static accountDisabled(): ApiError {
    return new ApiError(403, 'account_disabled', 'This account is disabled.');
  }
  static notFound(message = 'Not found.'): ApiError {
    return new ApiError(404, 'not_found', message);
  }
  static tooManyRequests(retryAfterSeconds: number): ApiError {
    return new ApiError(429, 'too_many_requests', 'Too many attempts. Try again later.', {}, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
  static serviceUnavailable(): ApiError {
    return new ApiError(503, 'service_unavailable', 'The service is temporarily unavailable. Try again shortly.', {}, { 'retry-after': '1' });
  }
  /** RFC 6749 §5.2 errors for the token and revocation endpoints. */
  static oauth(code: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type', description: string): ApiError {
    // Cache-Control: no-store is added by the exception filter for every answer of these routes.
    return new ApiError(400, code, description, { error_description: description });
  }
}
