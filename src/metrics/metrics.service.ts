import { createServer, Server } from 'node:http';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '../config/config';

export type LoginOutcomeLabel = 'success' | 'invalid_credentials' | 'account_disabled' | 'email_unverified' | 'rate_limited' | 'unavailable' | 'error';

/**
 * Prometheus metrics, served at /metrics on METRICS_PORT (off by default), never on the public
 * port. Label values are bounded enumerations: no user ids, no addresses. Counting is a few
 * additions on paths that already do I/O (login, refresh, revocation); the access-token guard
 * counts nothing.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  readonly registry = new Registry();
  private server?: Server;

  readonly logins = new Counter({
    name: 'latchkey_logins_total',
    help: 'Login attempts by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly refreshes = new Counter({
    name: 'latchkey_refreshes_total',
    help: 'Refresh-token exchanges by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly thefts = new Counter({
    name: 'latchkey_theft_detections_total',
    help: 'Replayed refresh tokens (sessions revoked as stolen).',
    registers: [this.registry],
  });
  readonly revocations = new Counter({
    name: 'latchkey_revocations_total',
    help: 'Sessions revoked, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'latchkey_rate_limited_total',
    help: 'Requests refused by a rate limit (ip) or the per-e-mail lockout (email).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: 'latchkey_password_hashing_shed_total',
    help: 'Requests answered 503 before hashing because the password-hashing queue was full.',
    registers: [this.registry],
  });
  readonly hashingQueue = new Gauge({
    name: 'latchkey_password_hashing_queue_length',
    help: 'Password hashes waiting for a worker.',
    registers: [this.registry],
  });
  readonly hashingActive = new Gauge({ name: 'latchkey_password_hashing_active', help: 'Password hashes running.', registers: [this.registry] });
  readonly databaseErrors = new Counter({
    name: 'latchkey_database_errors_total',
    help: 'Requests that failed on the database, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly mails = new Counter({
    name: 'latchkey_mails_total',
    help: 'Outbox messages by outcome (sent, dropped, failed for good, retried).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly registrySize = new Gauge({
    name: 'latchkey_revocation_registry_size',
    help: 'Revoked sessions held in memory (their access tokens may still be unexpired).',
    registers: [this.registry],
  });
  readonly propagationLag = new Histogram({
    name: 'latchkey_revocation_propagation_seconds',
    help: 'From a revocation on another instance to this instance knowing of it.',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15],
    registers: [this.registry],
  });

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    collectDefaultMetrics({ register: this.registry, prefix: 'latchkey_' });
  }

  async onModuleInit(): Promise<void> {
    if (this.config.metricsPort === null) return;
    this.server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.metricsPort!, this.config.metricsHost, () => resolve());
    });
    this.logger.log(`metrics on http://${this.config.metricsHost}:${this.config.metricsPort}/metrics`);
  }

  /** The port the metrics server listens on (tests start it on port 0). */
  get port(): number | null {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : null;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.server) await new Promise((resolve) => this.server!.close(resolve));
  }
}
