import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';

/**
 * Every Redis connection of the process (REDIS_URL is optional: without it there are none).
 * Connections fail fast instead of queueing, so a Redis outage costs a request nothing but
 * the fallback its caller chose; their errors are logged at most every 10 s.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly clients: Redis[] = [];
  private readonly handlers = new Map<string, Array<(message: string) => void>>();
  private publisher: Redis | null = null;
  private subscriber: Redis | null = null;
  private subscribedChannels = new Set<string>();
  private lastWarning = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  get enabled(): boolean {
    return this.config.redisUrl !== null;
  }

  /** A key or channel name in this deployment's namespace (REDIS_KEY_PREFIX). */
  key(name: string): string {
    return this.config.redisKeyPrefix + name;
  }

  /** A new connection; null without REDIS_URL. `purpose` names it in the log. */
  connect(purpose: string, options: RedisOptions = {}): Redis | null {
    if (!this.config.redisUrl) return null;
    const client = new Redis(this.config.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 2000,
      commandTimeout: 1000,
      ...options,
    });
    client.on('error', (error: Error) => this.warn(purpose, error));
    this.clients.push(client);
    return client;
  }

  /**
   * Fan-out between instances: one publishing and one subscribing connection for the process.
   * Best effort: what is published while Redis is down is lost, so every user of this has a
   * slower path that does not depend on it (the database poll).
   */
  publish(name: string, message: string): void {
    this.ensurePublisher();
    this.publisher?.publish(this.key(name), message).catch((error: Error) => this.warn('fan-out (polling still covers it)', error));
  }

  subscribe(name: string, handler: (message: string) => void): void {
    const channel = this.key(name);
    this.ensurePublisher();
    this.subscriber ??= this.subscriberConnection();
    if (!this.subscriber) return;
    this.handlers.set(channel, [...(this.handlers.get(channel) ?? []), handler]);
    if (this.subscriber.status === 'ready') this.listen(this.subscriber, [channel]);
  }

  /**
   * SUBSCRIBE is sent only on a ready connection: ioredis writes it at once while the connection
   * is still in its handshake, which flips it into subscriber mode and makes its own ready check
   * (INFO) fail, and then nothing is heard until the next reconnect. Every `ready` (the first
   * and each reconnect) subscribes to every channel asked for so far.
   */
  private subscriberConnection(): Redis | null {
    const subscriber = this.connect('fan-out (polling still covers it)', { enableOfflineQueue: true, commandTimeout: undefined, autoResubscribe: false });
    subscriber?.on('ready', () => {
      this.subscribedChannels.clear();
      this.listen(subscriber, [...this.handlers.keys()]);
    });
    subscriber?.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    return subscriber;
  }

  private listen(subscriber: Redis, channels: string[]): void {
    if (channels.length === 0) return;
    subscriber
      .subscribe(...channels)
      .then(() => channels.forEach((c) => this.subscribedChannels.add(c)))
      .catch((error: Error) => this.warn('fan-out subscribe', error));
  }

  private ensurePublisher(): void {
    // Queued while it connects (a key generated at boot is announced once it is up); each
    // queued message still gives up after commandTimeout, so an outage queues at most a second's worth.
    this.publisher ??= this.connect('fan-out (polling still covers it)', { enableOfflineQueue: true });
  }

  /** True once this process both listens on the channel and can publish. */
  fanOutReady(name: string): boolean {
    return this.subscribedChannels.has(this.key(name)) && this.publisher?.status === 'ready';
  }

  warn(purpose: string, error: Error): void {
    const now = this.clock.now();
    if (now - this.lastWarning < 10_000) return;
    this.lastWarning = now;
    this.logger.warn(`${purpose}: ${error.message}`);
  }

  async onApplicationShutdown(): Promise<void> {
    // quit() alone leaves a client that never connected (Redis down) reconnecting forever,
    // which would keep the process alive after shutdown; disconnect() ends that.
    await Promise.all(
      this.clients.map(async (client) => {
        // A message queued while the connection was still being made (a CLI run is that short)
        // goes out before the quit; bounded, and never waiting for a Redis that refused us.
        if (client.status === 'connecting' || client.status === 'connect') await readyWithin(client, 2000);
        if (client.status === 'ready') await client.quit().catch(() => undefined);
        client.disconnect();
      }),
    );
  }
}

function readyWithin(client: Redis, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('end', done);
      client.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.once('ready', done);
    client.once('end', done);
    client.once('error', done);
  });
}
