import { REDIS_URL } from './app';

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
 * For tests that need an outside service: `false` (run) when it answers; a skip reason (reported
 * by node:test as a skipped test, loudly) when it does not. When `REQUIRE_<NAME>=1` says it must
 * be there, the tests run anyway and fail on the missing service.
 */
export function needs(service: string, available: boolean, requireVariable: string): false | string {
  if (available) return false;
  if (process.env[requireVariable] === '1') {
    process.stdout.write(`\n!!! ${service} is required (${requireVariable}=1) but does not answer: the tests below will FAIL\n\n`);
    return false;
  }
  const reason = `${service} does not answer: NOT TESTED (set ${requireVariable}=1 to make this a failure)`;
  process.stdout.write(`\n!!! ${reason}\n\n`);
  return reason;
}
