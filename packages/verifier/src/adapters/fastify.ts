import type { RequestLike } from '../http';
import type { AccessTokenClaims, Verifier } from '../verifier';
import { isVerifierError, toIncomingRequest, type AdapterOptions } from './request';

/** The parts of a Fastify request the hook uses. */
export interface FastifyRequestLike extends RequestLike {
  latchkey?: AccessTokenClaims | null;
}

/** The parts of a Fastify reply the hook uses. */
export interface FastifyReplyLike {
  code(statusCode: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

/**
 * A Fastify `onRequest` or `preHandler` hook: sets `request.latchkey` to the verified claims, or
 * answers the refusal itself (status, `WWW-Authenticate`, `{statusCode, error, message}`).
 * Declare the property once, so Fastify keeps request objects of one shape:
 * `app.decorateRequest('latchkey', null)`.
 *
 * @example app.addHook('onRequest', latchkeyFastify(verifier));
 */
export function latchkeyFastify(verifier: Verifier, options: AdapterOptions = {}) {
  return async function latchkey(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<FastifyReplyLike | undefined> {
    try {
      request.latchkey = await verifier.authenticate(toIncomingRequest(request, options.origin));
      return undefined;
    } catch (error) {
      if (!isVerifierError(error)) throw error;
      // An async hook that has answered returns the reply, so Fastify stops the chain here.
      return reply
        .code(error.status)
        .headers({ ...error.headers })
        .send(error.toJSON());
    }
  };
}
