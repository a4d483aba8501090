import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from './config/config';
import { AppModule } from './app.module';
import { ApiError } from './common/api-error';
import { pinoOptions, requestId } from './common/logging';
import { clientErrorResponse } from './common/error-mapping';
import { sendError } from './common/exception.filter';
import { strictJsonParser } from './common/json-body';
import { addInputErrors, ErrorBodyView } from './common/openapi';
import { FORM, mediaType, routeFlags } from './common/route-flags';
import { answerClearsRefreshCookie, clearRefreshCookie } from './auth/refresh-cookie';
import { HashingPool } from './users/hashing-pool';

export const BODY_LIMIT = 64 * 1024;

/**
 * Builds the application exactly as `npm start` runs it. Tests build theirs with
 * `Test.createTestingModule` (so they can override a provider) and the same adapter and
 * configuration (test/support/app.ts), so they exercise the real HTTP stack.
 */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config), createAdapter(config), {
    // Start-up logs wait for pino, so they honour LOG_LEVEL and come out as JSON.
    bufferLogs: true,
  });
  return configureApp(app, config);
}

/** Fastify with the limits, logger and error answers latchkey needs. */
export function createAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    trustProxy: trustProxyFunction(config.trustProxy),
    routerOptions: { maxParamLength: 200 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Header size is bounded by Node's --max-http-header-size (16 KiB by default): larger gets 431.
    requestTimeout: 30_000,
    return503OnClosing: true,
    logger: pinoOptions(config),
    genReqId: requestId,
    // Bad percent-encoding and over-long path parameters: the contract's error body, not Fastify's.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => sendError(reply, error, request),
    // Requests Node refuses before routing (headers over 16 KiB → 431, malformed HTTP → 400).
    clientErrorHandler: (error, socket) => {
      if ((error as { code?: string }).code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) {
        const { status, reason, body } = clientErrorResponse(error);
        const text = JSON.stringify(body);
        socket.write(
          `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
        );
      }
      socket.destroy(error);
    },
  });
}

/**
 * TRUST_PROXY as Fastify's trust function (proxy-addr walks the socket address, then the
 * X-Forwarded-For entries right to left, and the client is the first address not trusted).
 * A hop count trusts the socket and the next N-1 entries: with 1, the address the nearest proxy
 * saw, never an entry the client wrote itself. Never Fastify's `true`, which believes the
 * left-most entry, written by the client.
 */
function trustProxyFunction(trust: AppConfig['trustProxy']): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return trust;
}

/**
 * helmet's security headers (a strict CSP and the rest), computed once: they are the same for
 * every answer, and helmet as a hook would rebuild the CSP string on each one (2–3% of a
 * refresh's CPU in the profile).
 */
const SECURITY_HEADERS: Record<string, string> = (() => {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
    getHeader: (name: string) => headers[name.toLowerCase()],
  };
  helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        // Served over plain http on localhost in development; TLS is the proxy's job.
        upgradeInsecureRequests: null,
      },
    },
  })({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
})();

/** Everything between the module graph and `listen()`: body parsing, hooks, headers, CORS, docs. */
export async function configureApp(app: NestFastifyApplication, config: AppConfig): Promise<NestFastifyApplication> {
  const fastify = app.getHttpAdapter().getInstance();
  // Only with tracing on: the SDK module is not loaded otherwise.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the SDK module is loaded only when tracing is on
  if (config.tracing) (require('./telemetry/tracing') as typeof import('./telemetry/tracing')).traceRoutes(fastify);
  // JSON is the contract's body type; text/plain would otherwise be parsed as a string.
  fastify.removeContentTypeParser(['text/plain']);
  app.useLogger(app.get(Logger));
  // JSON with repeated keys or absurd nesting is refused; the rest is Fastify's own parser.
  app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT }, strictJsonParser(fastify) as never);

  // On SIGTERM, answers still in flight tell keep-alive clients to hang up; otherwise close()
  // waits for those now-idle connections until the keep-alive timeout (72 s).
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });
  // Callback style: no promise per request on the hot path.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    const flags = routeFlags(request);
    if (flags.noStore) reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    if (answerClearsRefreshCookie(flags, request)) clearRefreshCookie(reply, config);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  // Password-hashing routes are shed at the door while hashing is saturated: before the body is
  // read, parsed or validated, so a flood's excess costs as little as possible (users/hashing-pool.ts).
  const hashing = app.get(HashingPool);
  fastify.addHook('onRequest', (request, reply, done) => {
    const shed = routeFlags(request).hashesPassword ? hashing.shedAtTheDoor() : null;
    if (shed) return sendError(reply, shed, request);
    done();
  });
  // Room is reserved once the body has arrived (a client trickling its body holds none) and
  // until the answer has gone: 'close' comes then, or when the connection goes, whichever path.
  fastify.addHook('preHandler', (request, reply, done) => {
    if (!routeFlags(request).hashesPassword) return done();
    const admission = hashing.admit();
    if (admission instanceof ApiError) return sendError(reply, admission, request);
    reply.raw.once('close', admission.release);
    done();
  });
  // Nest's Fastify adapter parses form bodies for every route; only the routes marked as taking
  // them (the OAuth endpoints) may receive one. The media type is compared case-insensitively.
  fastify.addHook('preValidation', (request, _reply, done) => {
    if (mediaType(request.headers['content-type']) === FORM && !routeFlags(request).form) {
      return done(new ApiError(415, 'unsupported_media_type', 'This content type is not supported here; send application/json.'));
    }
    done();
  });
  await app.register(cookie as never);
  if (config.corsOrigins.length) {
    app.enableCors({
      origin: config.corsOrigins,
      credentials: true,
      allowedHeaders: ['authorization', 'content-type', 'dpop', 'x-latchkey-csrf', 'x-request-id'],
      // A browser client reads the server's clock (DPoP iat) and why a proof was refused.
      exposedHeaders: ['date', 'www-authenticate'],
      maxAge: 600,
    });
  }

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('latchkey')
      .setDescription('Authentication backend: JWT access tokens, rotating per-device refresh tokens, instant revocation.')
      .setVersion('2')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .addBasicAuth({ type: 'http', scheme: 'basic', description: 'A resource server: client_id and client_secret (client_secret_basic).' }, 'resource-server')
      .build(),
    { extraModels: [ErrorBodyView] },
  );
  addInputErrors(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
