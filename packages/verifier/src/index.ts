export { createVerifier } from './verifier';
export { AccessTokenCheck, TokenRefusal, screenAccessTokenHeader, type AccessTokenRules, type ScreenedHeader, type TokenKey } from './access-token';
export type { AccessTokenClaims, IncomingRequest, RequestContext, Verifier, VerifierOptions, VerifierStatus, VerifyOptions } from './verifier';
export { InvalidDpopProofError, InvalidRequestError, InvalidTokenError, ServiceUnavailableError, VerifierConfigurationError, VerifierError } from './errors';
export type { ErrorBody, Scheme } from './errors';
export type { FeedError, Transport } from './feed';
export type { Logger } from './logger';
export { MAX_TOKEN_LENGTH, bearerToken, parseAuthorization, type Credentials } from './http';
export { SESSION_REVOKED } from './set';
export { latchkeyExpress, type ExpressRequestLike, type ExpressResponseLike } from './adapters/express';
export { latchkeyFastify, type FastifyReplyLike, type FastifyRequestLike } from './adapters/fastify';
export { LatchkeyGuard, type ExecutionContextLike, type LatchkeyGuardOptions } from './adapters/nest';
export type { AdapterOptions } from './adapters/request';
export { DPOP_ALGORITHMS, challenge } from './errors';
export {
  ProofReplayGuard,
  ReplayCache,
  accessTokenHash,
  checkDpopProof,
  redisReplayStore,
  type CheckedProof,
  type ProofExpectation,
  type ProofWindow,
  type RedisSetNx,
  type ReplayStore,
} from './dpop';
