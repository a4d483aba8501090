import type { RequestLike } from '../http';
import type { AccessTokenClaims, Verifier } from '../verifier';
import { isVerifierError, toIncomingRequest, type AdapterOptions } from './request';

declare global {
  // Merges into Express's own Request type when @types/express is installed; harmless otherwise.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the latchkey middleware: the verified access token's claims. */
      latchkey?: AccessTokenClaims;
    }
  }
}

/** The parts of an Express request the middleware uses. */
export interface ExpressRequestLike extends RequestLike {
  latchkey?: AccessTokenClaims;
}

/** The parts of an Express response the middleware uses. */
export interface ExpressResponseLike {
  setHeader(name: string, value: string): unknown;
  status(code: number): { json(body: unknown): unknown };
}

/**
 * Express middleware: sets `req.latchkey` to the verified claims, or answers the refusal itself
 * (status, `WWW-Authenticate`, `{statusCode, error, message}`).
 *
 * @example app.get('/me', latchkeyExpress(verifier), (req, res) => res.json({ user: req.latchkey!.sub }));
 */
export function latchkeyExpress(verifier: Verifier, options: AdapterOptions = {}) {
  return async function latchkey(req: ExpressRequestLike, res: ExpressResponseLike, next: (error?: unknown) => void): Promise<void> {
    let claims: AccessTokenClaims;
    try {
      claims = await verifier.authenticate(toIncomingRequest(req, options.origin));
    } catch (error) {
      if (!isVerifierError(error)) return next(error);
      for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
      res.status(error.status).json(error.toJSON());
      return;
    }
    req.latchkey = claims;
    next();
  };
}
