import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type Redis from 'ioredis';
import { RedisService } from '../../src/redis/redis.service';
import { AppConfig } from '../../src/config/config';
import { Clock } from '../../src/common/clock';
import { REDIS_URL } from '../support/app';
import { needs, redisAnswers } from '../support/services';
import { eventually } from '../support/http';

describe('Redis fan-out between instances', async () => {
  const redisSkip = needs(`Redis at ${REDIS_URL}`, await redisAnswers(), 'REQUIRE_REDIS');
  const services: RedisService[] = [];
  const service = () => {
    const s = new RedisService({ redisUrl: REDIS_URL, redisKeyPrefix: `lktest:${process.pid}:${services.length}:` } as AppConfig, new Clock());
    services.push(s);
    return s;
  };
  after(() => Promise.all(services.map((s) => s.onApplicationShutdown())));

  it('hears every channel, also one subscribed while its connection is still in the handshake', { skip: redisSkip }, async () => {
    const listener = service();
    const heard: string[] = [];
    listener.subscribe('first', (m) => heard.push(`first:${m}`));
    // The moment that broke it: TCP connected, ready check not yet answered.
    await once((listener as unknown as { subscriber: Redis }).subscriber, 'connect');
    listener.subscribe('second', (m) => heard.push(`second:${m}`));
    await eventually(async () => listener.fanOutReady('first') && listener.fanOutReady('second'), 5000, 10);

    const speaker = service();
    speaker.key = listener.key.bind(listener); // the same deployment
    // A speaker that can publish (a message queued while it connects gives up after a second).
    speaker.subscribe('unused', () => undefined);
    await eventually(async () => speaker.fanOutReady('unused'), 5000, 10);
    speaker.publish('first', 'a');
    speaker.publish('second', 'b');
    await eventually(async () => heard.length === 2, 5000, 10);
    assert.deepEqual(heard.sort(), ['first:a', 'second:b']);
  });
});
