import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-node';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { TracingConfig } from '../config/config';
import { enableSpans } from '../common/spans';
import { RedactingSpanProcessor, redactQuery, redactSql } from './redaction';

/**
 * OpenTelemetry traces, started by src/main.ts before anything it instruments is loaded, and only
 * when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set: with tracing off this file is
 * never required, so neither the SDK nor a single instrumentation hook is in the process.
 *
 * Spans: the HTTP server (and client) through the http instrumentation, named by Fastify's route
 * template; every SQL statement through TypeORM's query runners (MySQL/MariaDB and SQLite alike,
 * text only, never parameters); Redis commands by name only; argon2 and SMTP as manual spans
 * (src/common/spans.ts). W3C trace context is read from incoming requests and sent on outgoing ones.
 */
export interface Tracing {
  /** Flushes what is buffered and stops exporting; called on shutdown. */
  shutdown(): Promise<void>;
}

let started: Tracing | null = null;

export function startTracing(config: TracingConfig, serviceVersion: string): Tracing {
  if (started) return started;
  const provider = new NodeTracerProvider({
    // The standard OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win over ours.
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': serviceVersion }).merge(
      detectResources({ detectors: [envDetector] }),
    ),
    sampler: sampler(config),
    spanProcessors: [new RedactingSpanProcessor(new BatchSpanProcessor(exporter(config)))],
  });
  // AsyncLocalStorage context and the W3C tracecontext + baggage propagators.
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Probes every few seconds would bury the traces that matter.
        ignoreIncomingRequestHook: (request) => /^\/health(\/|\?|$)/.test(request.url ?? ''),
        // No headers are captured (the default); query values are dropped before the span starts.
        startIncomingSpanHook: (request: IncomingMessage) => {
          const at = request.url?.indexOf('?') ?? -1;
          return at < 0 ? {} : { 'url.query': redactQuery(request.url!.slice(at + 1)) };
        },
        redactedQueryParams: [],
      }),
      // The command's name only: arguments are keys and payloads (session ids, counters' subjects).
      new IORedisInstrumentation({ dbStatementSerializer: (command) => command, requireParentSpan: true }),
    ],
  });
  traceQueryRunners();
  enableSpans();
  started = { shutdown: () => provider.shutdown() };
  return started;
}

function exporter(config: TracingConfig) {
  const options = { url: config.endpoint, headers: config.headers };
  if (config.protocol === 'http/json') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- only the exporter that is used is loaded; TypeORM internals have no typed export
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(options);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only the exporter that is used is loaded; TypeORM internals have no typed export
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(options);
}

function sampler(config: TracingConfig): Sampler {
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(config.samplerRatio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.samplerRatio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/**
 * Names the server span by the route template (`GET /account/verify`, never the URL a client sent,
 * whose path parameters and query may carry ids and tokens) and records `http.route`. Registered
 * by src/bootstrap.ts only when tracing is on.
 */
export function traceRoutes(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    const metadata = getRPCMetadata(context.active());
    const span = metadata?.span ?? trace.getActiveSpan();
    if (span) {
      if (route) {
        if (metadata?.type === RPCType.HTTP) metadata.route = route;
        span.updateName(`${request.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('latchkey.request_id', String(request.id));
      // The client as TRUST_PROXY decides, not as any X-Forwarded-For a client wrote itself.
      span.setAttribute('client.address', request.ip);
    }
    done();
  });
}

interface QueryRunnerLike {
  query(sql: string, parameters?: unknown[], structured?: boolean): Promise<unknown>;
  driver: { options: { type?: string; host?: string; port?: number; database?: string } };
}

/**
 * One span per statement, for both drivers: every read and write of the app (repositories, raw
 * statements, transactions) goes through a query runner's `query`. The text is the parameterised
 * statement; the parameters are never recorded.
 */
function traceQueryRunners(): void {
  const runners = [
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- only the exporter that is used is loaded; TypeORM internals have no typed export
    (require('typeorm/driver/mysql/MysqlQueryRunner') as { MysqlQueryRunner: { prototype: QueryRunnerLike } }).MysqlQueryRunner,
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- only the exporter that is used is loaded; TypeORM internals have no typed export
    (require('typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner') as { BetterSqlite3QueryRunner: { prototype: QueryRunnerLike } })
      .BetterSqlite3QueryRunner,
  ];
  const tracer = trace.getTracer('latchkey-database');
  for (const runner of runners) {
    const original = runner.prototype.query;
    runner.prototype.query = function tracedQuery(this: QueryRunnerLike, sql: string, parameters?: unknown[], structured?: boolean) {
      if (!trace.getActiveSpan()) return original.call(this, sql, parameters, structured); // housekeeping timers: no trace to join
      const options = this.driver.options;
      const system = options.type === 'better-sqlite3' ? 'sqlite' : options.type === 'mariadb' ? 'mariadb' : 'mysql';
      const operation = /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? 'QUERY';
      const span = tracer.startSpan(operation, {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': system,
          'db.operation.name': operation,
          'db.query.text': redactSql(sql),
          ...(options.database && system !== 'sqlite' ? { 'db.namespace': options.database } : {}),
          ...(options.host ? { 'server.address': options.host, 'server.port': options.port ?? 3306 } : {}),
        },
      });
      return context
        .with(trace.setSpan(context.active(), span), () => original.call(this, sql, parameters, structured))
        .then(
          (result) => {
            span.end();
            return result;
          },
          (error: { code?: string; name?: string }) => {
            span.setStatus({ code: SpanStatusCode.ERROR, message: error?.code ?? error?.name ?? 'Error' });
            span.setAttribute('error.type', error?.code ?? error?.name ?? 'Error');
            span.end();
            throw error;
          },
        );
    };
  }
}
