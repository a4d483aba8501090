import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryCounters } from '../../src/rate-limit/counter-store';
import { clientKey } from '../../src/common/client-context';

describe('the in-memory rate-limit counters', () => {
  it('count within a window and start over after it', () => {
    let now = 0;
    const counters = new MemoryCounters(() => now, 10);
    assert.deepEqual(counters.hit('a', 1000), { count: 1, msLeft: 1000 });
    now = 400;
    assert.deepEqual(counters.hit('a', 1000), { count: 2, msLeft: 600 });
    now = 1000;
    assert.deepEqual(counters.hit('a', 1000), { count: 1, msLeft: 1000 });
  });

  it('stay within their bound however many keys arrive (the flood of forged addresses)', () => {
    const counters = new MemoryCounters(() => 0, 1000);
    for (let i = 0; i < 50_000; i++) counters.hit(`key-${i}`, 60_000);
    assert.equal(counters.size, 1000);
    assert.equal(counters.hit('key-49999', 60_000).count, 2, 'the newest keys are the ones kept');
  });
});

describe('clientKey: what a per-client limit counts under', () => {
  it('keeps IPv4 addresses, and folds IPv4-mapped IPv6 into them', () => {
    assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
    assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
  });
  it('counts IPv6 by its /64, however it is written', () => {
    const key = clientKey('2001:db8:1:2::1');
    assert.equal(key, '2001:db8:1:2::/64');
    for (const ip of ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:abcd::', '2001:DB8:1:2::9']) assert.equal(clientKey(ip.toLowerCase()), key, ip);
    assert.notEqual(clientKey('2001:db8:1:3::1'), key);
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
  });
});
