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

  readonly logins = this.counter('latchkey_logins_total', 'Login attempts by outcome.', ['outcome']);
  readonly refreshes = this.counter('latchkey_refreshes_total', 'Refresh-token exchanges by outcome.', ['outcome']);
  readonly thefts = this.counter('latchkey_theft_detections_total', 'Replayed refresh tokens (sessions revoked as stolen).');
  readonly revocations = this.counter('latchkey_revocations_total', 'Sessions revoked, by reason.', ['reason']);
  readonly rateLimited = this.counter('latchkey_rate_limited_total', 'Requests refused by a rate limit (ip) or the per-e-mail lockout (email).', ['kind']);
  readonly shed = this.counter('latchkey_password_hashing_shed_total', 'Requests answered 503 before hashing because the password-hashing queue was full.');
  readonly hashingQueue = this.gauge('latchkey_password_hashing_queue_length', 'Password hashes waiting for a worker.');
  readonly hashingActive = this.gauge('latchkey_password_hashing_active', 'Password hashes running.');
  readonly databaseErrors = this.counter('latchkey_database_errors_total', 'Requests that failed on the database, by kind.', ['kind']);
  readonly mails = this.counter('latchkey_mails_total', 'Outbox messages by outcome (sent, dropped, failed for good, retried).', ['outcome']);
  readonly registrySize = this.gauge('latchkey_revocation_registry_size', 'Revoked sessions held in memory (their access tokens may still be unexpired).');
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

  /** A counter in this service's registry; label values are typed by the names given. */
  private counter<Label extends string = string>(name: string, help: string, labelNames: readonly Label[] = []): Counter<Label> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
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
