/**
 * Issue 3: memory of the in-memory revocation registry holding 100,000 revoked session ids,
 * filled through its announce() path (the one every local revocation takes), measured as the
 * heapUsed delta around it with forced GCs.  node --expose-gc dist/bench/registry-memory.js
 */
import 'reflect-metadata';
import { uuidv7 } from '../src/common/ids';
import { Clock } from '../src/common/clock';
import { RevocationRegistry } from '../src/sessions/revocation-registry';
import type { AppConfig } from '../src/config/config';
import type { RevocationLog } from '../src/sessions/revocation-log';
import { RedisService } from '../src/redis/redis.service';
import { MetricsService } from '../src/metrics/metrics.service';
import { printTable, round, writeResult } from './lib';

const COUNT = Number(process.env.BENCH_REGISTRY_COUNT ?? 100_000);

function gc(): void {
  const g = (global as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) g();
}

function main(): void {
  const clock = new Clock();
  const config = { accessTokenTtl: 900, revocationPollMs: 1000, redisUrl: null, redisKeyPrefix: 'latchkey:', metricsPort: null } as unknown as AppConfig;
  const registry = new RevocationRegistry(config, {} as RevocationLog, new RedisService(config, clock), new MetricsService(config), clock);
  // Ids made before the measurement: the strings belong to whoever revoked them, in the app
  // too (the request or the database row); what the registry adds is the Map's own storage.
  const ids = Array.from({ length: COUNT }, () => uuidv7());
  const idsWithStrings = COUNT;
  gc();
  const before = process.memoryUsage().heapUsed;
  const now = Date.now();
  for (let i = 0; i < COUNT; i += 100) registry.announce(ids.slice(i, i + 100), now);
  gc();
  const mapOnly = process.memoryUsage().heapUsed - before;
  if (registry.size !== COUNT) throw new Error(`registry holds ${registry.size}, expected ${COUNT}`);

  // And the worst case, where the registry holds the only copy of each id string (ids that
  // arrived over Redis or from the database poll).
  // Flat strings, as JSON.parse (Redis message) and the database driver produce them.
  const registry2 = new RevocationRegistry(config, {} as RevocationLog, new RedisService(config, clock), new MetricsService(config), clock);
  const serialized = JSON.stringify(Array.from({ length: COUNT }, () => uuidv7()));
  gc();
  const before2 = process.memoryUsage().heapUsed;
  for (let i = 0; i < COUNT; i += 100) registry2.announce((JSON.parse(serialized) as string[]).slice(i, i + 100), now);
  gc();
  const withStrings = process.memoryUsage().heapUsed - before2;
  const rows = [
    { case: 'Map entries only (id strings shared)', entries: idsWithStrings, MiB: round(mapOnly / 1048576, 1), 'bytes/entry': Math.round(mapOnly / COUNT) },
    { case: 'entries incl. their id strings', entries: registry2.size, MiB: round(withStrings / 1048576, 1), 'bytes/entry': Math.round(withStrings / COUNT) },
  ];
  printTable(`Revocation registry, ${COUNT} revoked session ids (heapUsed delta)`, rows);
  writeResult('registry-memory', { count: COUNT, rows, ids: ids.length });
}

main();
