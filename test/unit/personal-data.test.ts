import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detailsWithoutPersonalData, isPersonalKey, withoutPersonalData } from '../../src/audit/personal-data';

describe("what account deletion erases from an audit event's details", () => {
  it('keys that name an e-mail address, an IP or a user agent, however they are spelt', () => {
    for (const key of [
      'email',
      'e-mail',
      'newEmail',
      'old_email',
      'ip',
      'IP',
      'clientIp',
      'client_ip',
      'ipAddress',
      'ip_address',
      'userAgent',
      'user_agent',
      'UserAgent',
    ])
      assert.equal(isPersonalKey(key), true, key);
    for (const key of ['reason', 'ownership', 'membership', 'revokedSessions', 'deviceId', 'origin', 'by', 'zip']) assert.equal(isPersonalKey(key), false, key);
  });

  it('drops those keys and any value that looks like an e-mail address, nested too, and keeps the rest', () => {
    assert.deepEqual(
      withoutPersonalData({
        reason: 'wrong_password',
        ip: '203.0.113.9',
        userAgent: 'X',
        from: 'ada@example.com',
        nested: { to: 'bob@example.org', n: 3, list: ['a', 'eve@example.net'] },
      }),
      {
        reason: 'wrong_password',
        from: null,
        nested: { to: null, n: 3, list: ['a', null] },
      },
    );
  });

  it('works on the stored JSON text; text that is not JSON goes whole when it holds an address', () => {
    assert.equal(detailsWithoutPersonalData('{"by":"user","email":"ada@example.com"}'), '{"by":"user"}');
    assert.equal(detailsWithoutPersonalData('{"reason":"x"}'), '{"reason":"x"}');
    assert.equal(detailsWithoutPersonalData('not json ada@example.com'), null);
    assert.equal(detailsWithoutPersonalData('not json'), 'not json');
  });
});
