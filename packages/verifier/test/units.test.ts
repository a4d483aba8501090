import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bearerToken, createVerifier, parseAuthorization } from '../src';
import { ReplayCache } from '../src/dpop';
import { basicAuthorization, requestUrl } from '../src/http';
import { RevokedSessions } from '../src/revoked-sessions';
import { SseParser } from '../src/sse';

describe('Authorization header', () => {
  test('reads Bearer and DPoP credentials, case-insensitively, and nothing else', () => {
    assert.deepEqual(parseAuthorization('Bearer abc.def.ghi'), { scheme: 'Bearer', token: 'abc.def.ghi' });
    assert.deepEqual(parseAuthorization('bearer abc.def.ghi'), { scheme: 'Bearer', token: 'abc.def.ghi' });
    assert.deepEqual(parseAuthorization('DPoP abc.def.ghi'), { scheme: 'DPoP', token: 'abc.def.ghi' });
    assert.equal(parseAuthorization('Basic dXNlcjpwYXNz'), null);
    assert.equal(parseAuthorization('Bearer two words'), null);
    assert.equal(parseAuthorization('Bearer'), null);
    assert.equal(parseAuthorization(undefined), null);
    assert.equal(parseAuthorization(`Bearer ${'a'.repeat(5000)}`), null);
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('DPoP abc'), null);
  });

  test('client_secret_basic form-urlencodes each part before base64 (RFC 6749 §2.3.1)', () => {
    const decoded = Buffer.from(basicAuthorization('id:1', 'a b+c/é').slice('Basic '.length), 'base64').toString();
    assert.equal(decoded, 'id%3A1:a+b%2Bc%2F%C3%A9');
  });

  test('the request URL comes from protocol, Host and the original path, or from a pinned origin', () => {
    const request = { method: 'GET', url: '/inner', originalUrl: '/api/things?x=1', protocol: 'https', headers: { host: 'rs.example:8443' } };
    assert.equal(requestUrl(request), 'https://rs.example:8443/api/things?x=1');
    assert.equal(requestUrl(request, 'https://public.example'), 'https://public.example/api/things?x=1');
  });
});

test('createVerifier refuses to start without issuer, audience or credentials', () => {
  const complete = { issuer: 'http://127.0.0.1:1', audience: 'latchkey', clientId: 'id', clientSecret: 'secret' };
  for (const name of Object.keys(complete)) {
    assert.throws(() => createVerifier({ ...complete, [name]: '' }), new RegExp(`"${name}" is required`));
  }
});

describe('Server-Sent Events parser', () => {
  test('events split across chunks and line endings, comments and id-only blocks', () => {
    const parser = new SseParser();
    const stream = ': hello\r\n\r\nid: c1\r\ndata: first\r\n\r\nid: c2\ndata: sec';
    const events = [...stream].flatMap((char) => parser.push(char));
    assert.deepEqual(events, [{ id: 'c1', data: 'first' }]);
    // A trailing CR may be the first half of CRLF: the blank line it ends is only known with the next chunk.
    assert.deepEqual(parser.push('ond\n\n: keep-alive\n\nid: c3\n\r'), [{ id: 'c2', data: 'second' }]);
    assert.deepEqual(parser.push('data:a\ndata:b\n\n'), [
      { id: 'c3', data: '' },
      { id: undefined, data: 'a\nb' },
    ]);
  });
});

describe('bounded sets', () => {
  test('the DPoP replay cache refuses a repeat and never exceeds its capacity', () => {
    let now = 0;
    const cache = new ReplayCache(3, () => now);
    assert.equal(cache.remember('a', 100), true);
    assert.equal(cache.remember('a', 100), false);
    for (const id of ['b', 'c', 'd', 'e']) cache.remember(id, 100);
    assert.equal(cache.size, 3);
    now = 100;
    assert.equal(cache.remember('e', 200), true, 'an expired id may come again');
  });

  test('revoked sessions are held for the retention time, then dropped', () => {
    let now = 10_000;
    const revoked = new RevokedSessions(
      () => now,
      () => 1000,
    );
    revoked.add('old', 8_000);
    revoked.add('s1', 9_500);
    assert.equal(revoked.has('old'), false, 'already past retention when it arrived');
    assert.equal(revoked.has('s1'), true);
    now = 10_499;
    assert.equal(revoked.sweep(), 1);
    now = 10_500;
    assert.equal(revoked.has('s1'), false);
    assert.equal(revoked.size, 0);
  });
});
