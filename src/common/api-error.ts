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
  /** RFC 9470 step-up: the assurance the route needs, and how recent its authentication must be (seconds). */
  acrValues?: string;
  maxAge?: number;
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
    readonly extra: Partial<Pick<ErrorBody, 'details' | 'error_description' | 'acrValues' | 'maxAge'>> = {},
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
  static invalidToken(
    tokenSent: boolean,
    message = 'The access token is missing, invalid, expired or revoked.',
    scheme: 'Bearer' | 'DPoP' = 'Bearer',
  ): ApiError {
    return new ApiError(401, 'invalid_token', message, {}, { 'www-authenticate': challenge(scheme, tokenSent ? 'invalid_token' : undefined) });
  }
  /** RFC 9449: a DPoP proof that is missing, invalid or replayed: 400 at the token endpoint, 401 at a resource. */
  static invalidDpopProof(status: 400 | 401, message: string): ApiError {
    return status === 400
      ? new ApiError(400, 'invalid_dpop_proof', message, { error_description: message })
      : new ApiError(401, 'invalid_dpop_proof', message, {}, { 'www-authenticate': challenge('DPoP', 'invalid_dpop_proof') });
  }
  /**
   * RFC 9470: the token is fine, its authentication is not enough (`acr`) or not recent enough
   * (`maxAge`, seconds): authenticate again (POST /me/step-up) and retry.
   */
  static insufficientUserAuthentication(acr: string, maxAge?: number, scheme: 'Bearer' | 'DPoP' = 'Bearer'): ApiError {
    const params = [`error="insufficient_user_authentication"`, `acr_values="${acr}"`, ...(maxAge === undefined ? [] : [`max_age=${maxAge}`])];
    const message =
      maxAge === undefined
        ? `This needs a session at ${acr}: complete a second factor (POST /me/step-up).`
        : `This needs a recent authentication at ${acr} (within ${maxAge} s): authenticate again (POST /me/step-up).`;
    return new ApiError(
      401,
      'insufficient_user_authentication',
      message,
      { acrValues: acr, ...(maxAge === undefined ? {} : { maxAge }) },
      { 'www-authenticate': `${scheme} ${params.join(', ')}` },
    );
  }
  static mfaEnrollmentRequired(): ApiError {
    return new ApiError(403, 'mfa_enrollment_required', 'This account must set up a second factor first (POST /me/factors/totp or a passkey).');
  }
  static invalidMfaToken(): ApiError {
    return new ApiError(401, 'invalid_mfa_token', 'The sign-in attempt is unknown, used or expired: sign in again.');
  }
  static invalidSecondFactor(): ApiError {
    return new ApiError(401, 'invalid_credentials', 'The code or credential is wrong.');
  }
  static factorExists(): ApiError {
    return new ApiError(409, 'factor_exists', 'This authenticator is already registered.');
  }
  static factorLimit(max: number): ApiError {
    return new ApiError(409, 'factor_limit', `An account can have at most ${max} second factors.`);
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
    return new ApiError(
      429,
      'too_many_requests',
      'Too many attempts. Try again later.',
      {},
      { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    );
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
