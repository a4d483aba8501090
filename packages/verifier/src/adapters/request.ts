import { VerifierError } from '../errors';
import { requestUrl, type RequestLike } from '../http';
import type { IncomingRequest } from '../verifier';

/** What every adapter accepts. */
export interface AdapterOptions {
  /**
   * The public origin clients address, e.g. `https://api.example.com`: DPoP proofs name the URL the
   * client saw, which a proxy in front may change. Default: the request's protocol and `Host`. The
   * verifier's own `origin` option, when set, wins over both.
   */
  origin?: string;
}

export function toIncomingRequest(request: RequestLike, origin: string | undefined): IncomingRequest {
  return {
    method: request.method,
    // Only a DPoP proof needs the URL: built on first use, not on every request.
    get url() {
      return requestUrl(request, origin);
    },
    headers: { authorization: request.headers.authorization, dpop: request.headers.dpop },
  };
}

/** Errors the adapters answer themselves; anything else is a bug and goes to the framework. */
export function isVerifierError(error: unknown): error is VerifierError {
  return error instanceof VerifierError;
}
