import assert from 'node:assert/strict';
import { createServer, connect, Server, Socket } from 'node:net';
import type { Reply } from './http';

/** Generous bounds: these assert "answers, and does not hang", not a latency. */
export const ANSWER_WITHIN_MS = 10_000;
export const RECOVER_WITHIN_MS = 20_000;

/** A free TCP port on 127.0.0.1, for a server started in a child process. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Runs a request and fails the test if it does not answer within `ms`. */
export async function within<T>(ms: number, label: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function assertUnavailable(r: Reply, label: string): void {
  assert.equal(r.status, 503, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'message', 'statusCode'], label);
  assert.equal(r.body.error, 'service_unavailable', label);
  assert.ok(r.headers.get('retry-after'), `${label}: Retry-After`);
}

/**
 * A TCP proxy between the app and MariaDB that the test can break in two ways:
 * `refuse` (nothing listens, live connections are cut: a stopped server) and `blackhole`
 * (connections are accepted and live ones kept open, but not a byte goes through: a
 * partition or a hung server). `restore` lets traffic through again on the same port.
 */
export class FaultyProxy {
  private server?: Server;
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket }>();
  mode: 'pass' | 'refuse' | 'blackhole' = 'pass';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  private accept(client: Socket): void {
    const pair: { client: Socket; upstream?: Socket } = { client };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    if (this.mode === 'blackhole') return; // accepted, and then silence
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    // Forwarded by hand, so that a blackhole can silence a live connection too.
    client.on('data', (d) => this.mode === 'pass' && upstream.write(d));
    upstream.on('data', (d) => this.mode === 'pass' && client.write(d));
  }

  async cut(mode: 'refuse' | 'blackhole'): Promise<void> {
    this.mode = mode;
    if (mode === 'refuse') {
      for (const { client, upstream } of this.pairs) {
        client.destroy();
        upstream?.destroy();
      }
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
  }

  async restore(): Promise<void> {
    const wasRefusing = this.mode === 'refuse';
    // Connections that lived through a blackhole are out of step with the server: cut them,
    // as a real partition's timeouts eventually would.
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    this.mode = 'pass';
    if (wasRefusing) await this.start();
  }

  async stop(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    if (this.server?.listening) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
