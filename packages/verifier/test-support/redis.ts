/** Redis for the replay-store tests: the URL, and whether it answers (latchkey's test/support/services.ts, for this package). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers a PING at REDIS_URL within a second. */
export async function redisAnswers(url = REDIS_URL): Promise<boolean> {
  const { default: Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * `false` (run) when Redis answers; otherwise a skip reason, printed loudly. With REQUIRE_REDIS=1
 * the tests run anyway and fail on the missing service.
 */
export async function needsRedis(): Promise<false | string> {
  if (await redisAnswers()) return false;
  if (process.env.REQUIRE_REDIS === '1') {
    process.stdout.write(`\n!!! Redis at ${REDIS_URL} is required (REQUIRE_REDIS=1) but does not answer: the tests below will FAIL\n\n`);
    return false;
  }
  const reason = `Redis at ${REDIS_URL} does not answer: NOT TESTED (set REQUIRE_REDIS=1 to make this a failure)`;
  process.stdout.write(`\n!!! ${reason}\n\n`);
  return reason;
}
