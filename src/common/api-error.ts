import { HttpException } from '@nestjs/common';
import { challenge } from '@latchkey/verifier';

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
 * The one error type services throw. Its body is the contract's error body (docs/API.md); `headers` carries
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
  /** `scheme`: the one the client used, so that the challenge tells it what to fix (RFC 6750 §3, RFC 9449 §7.1). */
  static invalidToken(tokenSent: boolean, message = 'The access token is missing, invalid, expired or revoked.', scheme: 'Bearer' | 'DPoP' = 'Bearer'): ApiError {
    return new ApiError(401, 'invalid_token', message, {}, { 'www-authenticate': challenge(scheme, tokenSent ? 'invalid_token' : undefined) });
  }
  /** RFC 9449: a DPoP proof that is missing, invalid or replayed: 400 at the token endpoint, 401 at a resource. */
  static invalidDpopProof(status: 400 | 401, message: string): ApiError {
    return status === 400
      ? new ApiError(400, 'invalid_dpop_proof', message, { error_description: message })
      : new ApiError(401, 'invalid_dpop_proof', message, {}, { 'www-authenticate': challenge('DPoP', 'invalid_dpop_proof') });
  }
  static forbidden(message = 'You are not allowed to do this.'): ApiError {
    return new ApiError(403, 'forbidden', message);
  }
  static accountDisabled(): ApiError {
    return new ApiError(403, 'account_disabled', 'This account is disabled.');
  }
  static emailUnverified(): ApiError {
    return new ApiError(403, 'email_unverified', 'Confirm your e-mail address first: a new link is on its way.');
  }
  /** A reset, verification or report link that is unknown, expired, used or superseded. */
  static invalidLink(): ApiError {
    return new ApiError(400, 'invalid_link', 'This link is not valid any more: it was used, replaced by a newer one, or has expired.');
  }
  static notFound(message = 'Not found.'): ApiError {
    return new ApiError(404, 'not_found', message);
  }
  static tooManyRequests(retryAfterSeconds: number): ApiError {
    return new ApiError(429, 'too_many_requests', 'Too many attempts. Try again later.', {}, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
  static serviceUnavailable(message = 'The service is temporarily unavailable. Try again shortly.'): ApiError {
    return new ApiError(503, 'service_unavailable', message, {}, { 'retry-after': '1' });
  }
  /** RFC 6749 §5.2 errors for the token and revocation endpoints. */
  static oauth(code: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type', description: string): ApiError {
    // Cache-Control: no-store is added by the exception filter for every answer of these routes.
    return new ApiError(400, code, description, { error_description: description });
  }
}
