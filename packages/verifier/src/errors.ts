/** The JSON body latchkey itself answers errors with, so resource servers speak the same shape. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/** The algorithms a DPoP proof may be signed with, as advertised in the `DPoP` challenge. */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

/** Which authentication scheme a challenge names: the one the client used, so it knows what to fix. */
export type Scheme = 'Bearer' | 'DPoP';

/** The `WWW-Authenticate` challenge of a refusal (RFC 6750 §3, RFC 9449 §7.1); latchkey answers with the same. */
export function challenge(scheme: Scheme, error?: string): string {
  if (scheme === 'DPoP') return `DPoP ${error ? `error="${error}", ` : ''}algs="${DPOP_ALGORITHMS.join(' ')}"`;
  return error ? `Bearer error="${error}"` : 'Bearer';
}

/**
 * A request the verifier refuses. It carries everything an HTTP answer needs: `status`, the RFC
 * 6750 / RFC 9449 `code`, `headers` (a ready-made `WWW-Authenticate`, or `Retry-After`) and
 * {@link toJSON} for the body. Messages never contain the token.
 *
 * It also has the "http-errors" shape (`statusCode`, `expose`), so frameworks that know that
 * shape (Express, Fastify, Nest) answer with the right status even without an adapter.
 */
export abstract class VerifierError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  protected constructor(message: string, headers: Record<string, string>) {
    super(message);
    this.name = new.target.name;
    this.headers = Object.freeze(headers);
  }

  get statusCode(): number {
    return this.status;
  }

  /** The message is meant for the client: it never holds secrets. */
  get expose(): boolean {
    return true;
  }

  get wwwAuthenticate(): string | undefined {
    return this.headers['WWW-Authenticate'];
  }

  toJSON(): ErrorBody {
    return { statusCode: this.status, error: this.code, message: this.message };
  }
}

/** 401 `invalid_token`: missing, malformed, forged, expired or revoked access token (RFC 6750 §3.1). */
export class InvalidTokenError extends VerifierError {
  readonly status = 401;
  readonly code = 'invalid_token';

  /** `scheme` picks the challenge; `tokenPresent: false` gives the bare `Bearer` challenge of RFC 6750 §3.1. */
  constructor(message: string, scheme: Scheme = 'Bearer', tokenPresent = true) {
    super(message, { 'WWW-Authenticate': challenge(scheme, tokenPresent ? 'invalid_token' : undefined) });
  }

  /** The request carried no access token at all. */
  static missing(): InvalidTokenError {
    return new InvalidTokenError('An access token is required.', 'Bearer', false);
  }
}

/** 400 `invalid_request`: a request this verifier cannot read, such as two DPoP proofs. */
export class InvalidRequestError extends VerifierError {
  readonly status = 400;
  readonly code = 'invalid_request';

  constructor(message: string, scheme: Scheme = 'Bearer') {
    super(message, { 'WWW-Authenticate': challenge(scheme, 'invalid_request') });
  }
}

/** 401 `invalid_dpop_proof` (RFC 9449 §7.1): the proof is missing, malformed or does not match the request or the token. */
export class InvalidDpopProofError extends VerifierError {
  readonly status = 401;
  readonly code = 'invalid_dpop_proof';

  constructor(message: string) {
    super(message, { 'WWW-Authenticate': challenge('DPoP', 'invalid_dpop_proof') });
  }
}

/**
 * 503 `service_unavailable`: the token may be fine, but the verifier cannot tell whether its session
 * was revoked (the feed is stale, or the verifier is not ready). Distinct from a bad token on purpose:
 * a client should retry, not sign in again.
 */
export class ServiceUnavailableError extends VerifierError {
  readonly status = 503;
  readonly code = 'service_unavailable';

  constructor(message: string, retryAfterSeconds = 5) {
    super(message, { 'Retry-After': String(retryAfterSeconds) });
  }
}

/**
 * latchkey refused the verifier's own configuration: wrong client credentials (`invalid_client`),
 * an issuer that does not match the metadata, a server without a revocation feed. Not a request
 * error: it is reported by {@link Verifier.status}, the logger and a rejected `ready()`.
 */
export class VerifierConfigurationError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'VerifierConfigurationError';
  }
}
