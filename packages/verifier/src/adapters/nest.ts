import type { VerifierError } from '../errors';
import type { RequestLike } from '../http';
import type { AccessTokenClaims, Verifier } from '../verifier';
import { isVerifierError, toIncomingRequest, type AdapterOptions } from './request';

/** The part of Nest's `ExecutionContext` the guard uses. */
export interface ExecutionContextLike {
  switchToHttp(): { getRequest<T = unknown>(): T; getResponse<T = unknown>(): T };
}

export interface LatchkeyGuardOptions extends AdapterOptions {
  /**
   * Turns a refusal into what the guard throws. Default: Nest's `HttpException` with the error's
   * body and status (loaded from `@nestjs/common` on first use), or the error itself when that
   * package cannot be loaded from here (Nest still answers its status, from `statusCode`).
   */
  toException?: (error: VerifierError) => unknown;
}

type HttpExceptionClass = new (response: object, status: number) => unknown;
let httpException: HttpExceptionClass | null | undefined;

/**
 * Nest's default exception filter answers with a status only for `instanceof HttpException`;
 * a look-alike object goes to its "unknown error" path (500, logged). So the class itself is needed,
 * and it is taken from the application's own `@nestjs/common` rather than declared as a dependency.
 */
function nestException(error: VerifierError): unknown {
  if (httpException === undefined) {
    try {
      httpException = (require('@nestjs/common') as { HttpException: HttpExceptionClass }).HttpException;
    } catch {
      httpException = null;
    }
  }
  return httpException ? new httpException(error.toJSON(), error.status) : error;
}

interface ResponseLike {
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
}

/**
 * A Nest guard, for Express or Fastify platforms: `@UseGuards(new LatchkeyGuard(verifier))`.
 * Sets `request.latchkey` to the verified claims; on refusal it sets `WWW-Authenticate` (and
 * `Retry-After`) on the response and throws an exception Nest answers with the right status and
 * the `{statusCode, error, message}` body.
 */
export class LatchkeyGuard {
  constructor(
    private readonly verifier: Verifier,
    private readonly options: LatchkeyGuardOptions = {},
  ) {}

  async canActivate(context: ExecutionContextLike): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<RequestLike & { latchkey?: AccessTokenClaims }>();
    try {
      request.latchkey = await this.verifier.authenticate(toIncomingRequest(request, this.options.origin));
      return true;
    } catch (error) {
      if (!isVerifierError(error)) throw error;
      const response = http.getResponse<ResponseLike>();
      // Express responses and Fastify replies both have header(); plain Node responses setHeader().
      for (const [name, value] of Object.entries(error.headers)) {
        if (typeof response.header === 'function') response.header(name, value);
        else response.setHeader?.(name, value);
      }
      throw (this.options.toException ?? nestException)(error);
    }
  }
}
