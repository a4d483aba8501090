import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RefreshTokenCodec, parseRefreshToken } from '../../src/sessions/refresh-token';
import { uuidv7 } from '../../src/common/ids';

const k = (id: string) => ({ id, key: randomBytes(32) });

describe('refresh token codec', () => {
  const sid = uuidv7();
  const salt = randomBytes(16).toString('base64url');

  it('issues URL-safe tokens with 256 bits of MAC that parse back', () => {
    const codec = new RefreshTokenCodec([k('k1')]);
    const token = codec.issue(sid, 7, salt);
    assert.match(token, /^[A-Za-z0-9._-]+$/);
    const parts = parseRefreshToken(token)!;
    assert.equal(parts.sessionId, sid);
    assert.equal(parts.generation, 7);
    assert.equal(parts.keyId, 'k1');
    assert.equal(parts.mac.length, 32);
    assert.ok(codec.isAuthentic(parts, salt));
  });

  it('is deterministic per (session, generation, salt): the grace window re-issues the same link', () => {
    const codec = new RefreshTokenCodec([k('k1')]);
    assert.equal(codec.issue(sid, 3, salt), codec.issue(sid, 3, salt));
    assert.notEqual(codec.issue(sid, 3, salt), codec.issue(sid, 4, salt));
  });

  it('rejects a changed generation, salt, session, key id or MAC', () => {
    const codec = new RefreshTokenCodec([k('k1'), k('k0')]);
    const parts = parseRefreshToken(codec.issue(sid, 2, salt))!;
    assert.equal(codec.isAuthentic({ ...parts, generation: 3 }, salt), false);
    assert.equal(codec.isAuthentic(parts, randomBytes(16).toString('base64url')), false);
    assert.equal(codec.isAuthentic({ ...parts, sessionId: uuidv7() }, salt), false);
    assert.equal(codec.isAuthentic({ ...parts, keyId: 'k0' }, salt), false);
    assert.equal(codec.isAuthentic({ ...parts, keyId: 'nope' }, salt), false);
    const mac = Buffer.from(parts.mac);
    mac[0] ^= 1;
    assert.equal(codec.isAuthentic({ ...parts, mac }, salt), false);
  });

  it('keeps accepting links signed with an older key after the key rotates', () => {
    const old = k('old');
    const before = new RefreshTokenCodec([old]);
    const after = new RefreshTokenCodec([k('new'), old]);
    const token = before.issue(sid, 5, salt);
    assert.ok(after.isAuthentic(parseRefreshToken(token)!, salt));
    assert.match(after.issue(sid, 6, salt), /\.new\./);
    assert.equal(new RefreshTokenCodec([k('new')]).isAuthentic(parseRefreshToken(token)!, salt), false, 'dropped keys stop working');
  });

  it('refuses malformed input without throwing', () => {
    for (const bad of [
      '',
      'x',
      `${sid}.1.k1`,
      `${sid}.-1.k1.${'A'.repeat(43)}`,
      `${sid}.01.k1.${'A'.repeat(43)}`,
      `${sid.toUpperCase()}.1.k1.${'A'.repeat(43)}`,
      'a'.repeat(10_000),
      `${sid}.1.k1.${'A'.repeat(42)}=`,
    ]) {
      assert.equal(parseRefreshToken(bad), null, bad.slice(0, 60));
    }
    assert.equal(parseRefreshToken(42), null);
    assert.equal(parseRefreshToken(null), null);
  });
});

describe('uuidv7', () => {
  it('is a v7 UUID ordered by time', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(a < b);
  });
});
