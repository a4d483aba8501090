import 'reflect-metadata';
import { loadConfig } from './config/config';
import { ConfigError } from './config/parse';
// Nothing that tracing instruments (http, Fastify, TypeORM, ioredis) may be imported above this
// line: ./bootstrap is required only once tracing has started, so its hooks see every module load.
import type { Tracing } from './telemetry/tracing';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`latchkey: configuration error: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  // Off by default: without OTEL_EXPORTER_OTLP_ENDPOINT the SDK is never loaded.
  let tracing: Tracing | null = null;
  if (config.tracing) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after tracing has started, and the SDK only when it is on
    const { startTracing } = require('./telemetry/tracing') as typeof import('./telemetry/tracing');
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the version of the package that runs, read at start
    tracing = startTracing(config.tracing, (require('../../package.json') as { version: string }).version);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after tracing has started, and the SDK only when it is on
  const { createApp } = require('./bootstrap') as typeof import('./bootstrap');
  const app = await createApp(config);
  // SIGTERM/SIGINT: stop accepting, finish what is in flight, close the pools, exit 0. A
  // process that exits any other way was not shut down cleanly.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      // The spans of the last requests are flushed after they have been answered.
      app
        .close()
        .then(() => tracing?.shutdown().catch((error: Error) => process.stderr.write(`latchkey: flushing traces failed: ${error.message}\n`)))
        .then(
          () => process.exit(0),
          (error: Error) => {
            process.stderr.write(`latchkey: shutdown failed: ${error.message}\n`);
            process.exit(1);
          },
        );
    });
  }
  await app.listen({ port: config.port, host: config.host });
  const address = app.getHttpServer().address();
  const where = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
  process.stderr.write(`latchkey listening on ${where} (${config.mysql ? 'MySQL' : 'SQLite in ' + config.dataDir})\n`);
}

main().catch((error) => {
  process.stderr.write(`latchkey: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
