import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from '@fastify/helmet';
import cookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from './config/config';
import { AppModule } from './app.module';
import { ApiError } from './common/api-error';
import { pinoOptions, requestId } from './common/logging';
import { clientErrorResponse } from './common/error-mapping';
import { OAUTH_ROUTES, sendError } from './common/exception.filter';
import { strictJsonParser } from './common/json-body';

export const BODY_LIMIT = 64 * 1024;


/**
 * Builds the application exactly as `npm start` runs it; the e2e tests use the same function,
 * so they exercise the real HTTP stack.
 */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    trustProxy: config.trustProxy,
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
        const { status, reason, body } = clientErrorResponse(error as { code?: string });
        const text = JSON.stringify(body);
        socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
      }
      socket.destroy(error);
    },
  });
  const fastify = adapter.getInstance();
  // JSON is the contract's body type; text/plain would otherwise be parsed as a string.
  fastify.removeContentTypeParser(['text/plain']);

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config), adapter, {
    // Start-up logs wait for pino, so they honour LOG_LEVEL and come out as JSON.
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  // JSON with repeated keys or absurd nesting is refused; the rest is Fastify's own parser.
  app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT }, strictJsonParser(fastify) as never);
  app.enableShutdownHooks();

  // Nest's Fastify adapter already parses application/x-www-form-urlencoded; only two routes take it.
  // On SIGTERM, answers still in flight tell keep-alive clients to hang up; otherwise close()
  // waits for those now-idle connections until the keep-alive timeout (72 s).
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });
  // Callback style: no promise per request on the hot path.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  fastify.addHook('preValidation', async (request) => {
    const type = request.headers['content-type'];
    if (type && type.startsWith('application/x-www-form-urlencoded') && !OAUTH_ROUTES.has(request.url.split('?')[0])) {
      throw new ApiError(415, 'unsupported_media_type', 'This content type is not supported here; send application/json.');
    }
  });
  await app.register(cookie as never);
  await app.register(helmet as never, {
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
  } as never);
  if (config.corsOrigins.length) {
    app.enableCors({
      origin: config.corsOrigins,
      credentials: true,
      allowedHeaders: ['authorization', 'content-type', 'x-latchkey-csrf', 'x-request-id'],
      maxAge: 600,
    });
  }

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('latchkey')
      .setDescription('Authentication backend: JWT access tokens, rotating per-device refresh tokens, instant revocation.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
