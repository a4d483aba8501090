import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RefreshKey } from '../config/parse';
import { decodeCanonicalBase64url } from '../common/base64url';

/**
 * A refresh token is `<session id>.<generation>.<key id>.<mac>` with
 * mac = HMAC-SHA256(refresh key[key id], "lk1" ‖ session id ‖ generation ‖ key id ‖ session salt).
 *
 * Nothing of it is stored: the session row keeps only the current generation and the salt,
 * so the row does not grow with rotations, a database leak yields no usable token (no key),
 * and the key alone yields none either (no salt). Because the MAC is checked before anything
 * else, a forged or guessed token (even one naming a real session and generation) changes
 * nothing. The key id lets the key rotate while chains signed with the old one keep working.
 */
export interface RefreshTokenParts {
  sessionId: string;
  generation: number;
  keyId: string;
  mac: Buffer;
}

const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(0|[1-9][0-9]{0,8})\.([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]{43})$/;
export const REFRESH_TOKEN_MAX_LENGTH = 128;

export function parseRefreshToken(token: unknown): RefreshTokenParts | null {
  if (typeof token !== 'string' || token.length > REFRESH_TOKEN_MAX_LENGTH) return null;
  const m = TOKEN.exec(token);
  if (!m) return null;
  const mac = decodeCanonicalBase64url(m[4]);
  if (!mac) return null;
  return { sessionId: m[1], generation: Number(m[2]), keyId: m[3], mac };
}

function mac(key: Buffer, sessionId: string, generation: number, keyId: string, salt: string): Buffer {
  return createHmac('sha256', key).update(`lk1\u0000${sessionId}\u0000${generation}\u0000${keyId}\u0000${salt}`).digest();
}

export class RefreshTokenCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: RefreshKey;

  /** `keys[0]` signs; every key is accepted. */
  constructor(keys: RefreshKey[]) {
    if (keys.length === 0) throw new Error('at least one refresh key is required');
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  issue(sessionId: string, generation: number, salt: string): string {
    const digest = mac(this.current.key, sessionId, generation, this.current.id, salt);
    return `${sessionId}.${generation}.${this.current.id}.${digest.toString('base64url')}`;
  }

  /** Constant-time check that this server issued exactly this link of this session's chain. */
  isAuthentic(parts: RefreshTokenParts, salt: string): boolean {
    const key = this.byId.get(parts.keyId);
    if (!key || parts.mac.length !== 32) return false;
    return timingSafeEqual(mac(key, parts.sessionId, parts.generation, parts.keyId, salt), parts.mac);
  }
}
