import { createHash } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { DPOP_ALGORITHMS, InvalidDpopProofError, InvalidRequestError } from './errors';

const MAX_PROOF_LENGTH = 8192;
const MAX_JTI_LENGTH = 256;

/** What a proof must match: the request it came with and, at a resource, the token it accompanies. */
export interface ProofExpectation {
  proof: string | string[] | undefined;
  method: string;
  url: string;
  /** At a resource: the access token the proof must be for (`ath`). Absent at a token endpoint. */
  accessToken?: string;
  /** The key the proof must be signed with (RFC 7638 SHA-256 thumbprint); absent when any key may bind. */
  jkt?: string;
}

export interface ProofWindow {
  /** How old a proof's `iat` may be, in seconds. */
  maxAge: number;
  /** Allowed clock difference with the client, in seconds, both ways. */
  clockTolerance: number;
  now: () => number;
}

export interface DpopOptions extends ProofWindow {
  replay: ProofReplayGuard;
}

/** A proof that passed every check but the replay check, which needs a store of seen `jti`s. */
export interface CheckedProof {
  /** The thumbprint of the proof's key. */
  jkt: string;
  /** `${jkt}:${jti}`: what a replay store remembers. */
  replayId: string;
  /** When the proof stops being acceptable anyway (ms): how long its id must be remembered. */
  acceptableUntil: number;
}

/**
 * Checks a DPoP proof (RFC 9449 §4.3), all but the replay of its `jti`: one proof, `typ:
 * dpop+jwt`, an asymmetric `alg`, signed by the public `jwk` of its header (whose thumbprint is
 * `jkt` when one is expected); `htm` and `htu` (without query and fragment) match the request;
 * `iat` within the window; `ath` is the token's hash when a token is expected.
 */
export async function checkDpopProof(expect: ProofExpectation, window: ProofWindow): Promise<CheckedProof> {
  const proof = expect.proof;
  if (Array.isArray(proof)) throw new InvalidRequestError('Send exactly one DPoP proof.', 'DPoP');
  if (typeof proof !== 'string' || proof === '')
    throw new InvalidDpopProofError(expect.accessToken === undefined ? 'A DPoP proof is required.' : 'A DPoP proof is required with this access token.');
  if (proof.length > MAX_PROOF_LENGTH) throw new InvalidDpopProofError('The DPoP proof is too large.');

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw new InvalidDpopProofError('The DPoP proof is not a JWT.');
  }
  if (header.typ !== 'dpop+jwt') throw new InvalidDpopProofError('The DPoP proof must have typ dpop+jwt.');
  if (typeof header.alg !== 'string' || !(DPOP_ALGORITHMS as readonly string[]).includes(header.alg))
    throw new InvalidDpopProofError('The DPoP proof algorithm is not accepted.');

  const publicKey = publicJwkMembers(header.jwk);
  if (publicKey === null) throw new InvalidDpopProofError('The DPoP proof must carry a public key (jwk) in its header.');
  const jkt = thumbprintOf(publicKey);
  // The key before the signature: a proof by the wrong key costs no verification.
  if (expect.jkt !== undefined && jkt !== expect.jkt) throw new InvalidDpopProofError('The DPoP proof key is not the one this token is bound to.');
  let payload: Record<string, unknown>;
  try {
    // Only the members the thumbprint covers are imported: anything else in the header (key_ops,
    // ext…) could make the cached key unusable for every later proof of the same thumbprint.
    const key = await importedKey(jkt, publicKey, header.alg);
    ({ payload } = await jwtVerify(proof, key, { typ: 'dpop+jwt', algorithms: [header.alg], currentDate: new Date(window.now()) }));
  } catch {
    throw new InvalidDpopProofError('The DPoP proof signature is invalid.');
  }
  if (payload.htm !== expect.method) throw new InvalidDpopProofError('The DPoP proof is for another HTTP method.');
  if (typeof payload.htu !== 'string' || !sameTarget(payload.htu, expect.url)) throw new InvalidDpopProofError('The DPoP proof is for another URL.');

  const now = window.now() / 1000;
  const iat = payload.iat;
  if (typeof iat !== 'number' || iat > now + window.clockTolerance || iat < now - window.maxAge - window.clockTolerance)
    throw new InvalidDpopProofError('The DPoP proof is too old or from the future.');
  if (expect.accessToken !== undefined && payload.ath !== accessTokenHash(expect.accessToken))
    throw new InvalidDpopProofError('The DPoP proof is not for this access token.');

  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw new InvalidDpopProofError('The DPoP proof has no usable jti.');
  return { jkt, replayId: `${jkt}:${jti}`, acceptableUntil: (iat + window.maxAge + window.clockTolerance) * 1000 };
}

/** A resource's check: the proof for this request and this bound token, never seen before. */
export async function verifyDpopProof(expect: ProofExpectation & { accessToken: string; jkt: string }, options: DpopOptions): Promise<void> {
  const checked = await checkDpopProof(expect, options);
  // Only proofs that passed every other check are remembered, so junk cannot fill the cache.
  if (!(await options.replay.firstUse(checked))) throw new InvalidDpopProofError('The DPoP proof was already used.');
}

/**
 * Where instances share the proof ids they have seen, so that a proof captured on its way to one
 * instance cannot be replayed at another: `setIfAbsent` records `key` for `ttlMs` and resolves true,
 * or resolves false when `key` is already there. See {@link redisReplayStore}.
 */
export interface ReplayStore {
  setIfAbsent(key: string, ttlMs: number): Promise<boolean>;
}

/** The one command of an ioredis client (or anything that answers like one) {@link redisReplayStore} uses. */
export interface RedisSetNx {
  set(key: string, value: string, px: 'PX', ttlMs: number, nx: 'NX'): Promise<string | null>;
}

/** A {@link ReplayStore} on Redis: `SET <prefix><id> 1 PX <ttl> NX`. Pass your ioredis client. */
export function redisReplayStore(client: RedisSetNx, options: { prefix?: string } = {}): ReplayStore {
  const prefix = options.prefix ?? 'latchkey:dpop:';
  return {
    // PX takes whole milliseconds (an iat with a fraction would make Redis refuse the command).
    setIfAbsent: async (key, ttlMs) => (await client.set(prefix + key, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) !== null,
  };
}

/**
 * The replay check: a proof id is new in this process's {@link ReplayCache} and, with a shared
 * {@link ReplayStore}, new there too. A store that fails is reported (`onStoreError`) and the proof
 * accepted: replays are then refused per instance only, rather than every request refused.
 */
export class ProofReplayGuard {
  constructor(
    private readonly local: ReplayCache,
    private readonly shared: ReplayStore | undefined,
    private readonly now: () => number,
    private readonly onStoreError: (error: Error) => void,
  ) {}

  async firstUse(proof: CheckedProof): Promise<boolean> {
    if (!this.local.remember(proof.replayId, proof.acceptableUntil)) return false;
    if (!this.shared) return true;
    try {
      return await this.shared.setIfAbsent(proof.replayId, proof.acceptableUntil - this.now());
    } catch (error) {
      this.onStoreError(error as Error);
      return true;
    }
  }
}

/** The members of a public JWK that RFC 7638 hashes, by key type, in their required order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] };

/**
 * RFC 7638 SHA-256 thumbprint of a public JWK, or null for anything else (a private key, a
 * symmetric one, a member missing or not a string). Synchronous: jose's is asynchronous WebCrypto,
 * a tenth of a proof check's time for a hash of ~150 bytes.
 */
export function publicJwkThumbprint(jwk: unknown): string | null {
  const members = publicJwkMembers(jwk);
  return members && thumbprintOf(members);
}

/** The RFC 7638 members of a public JWK, in their order; null for anything but a public EC, OKP or RSA key. */
function publicJwkMembers(jwk: unknown): Record<string, string> | null {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return null;
  const key = jwk as Record<string, unknown>;
  const members = typeof key.kty === 'string' ? THUMBPRINT_MEMBERS[key.kty] : undefined;
  // `d` (and RSA's p, q…) would make it a private key: never accepted in a proof (§4.2).
  if (!members || 'd' in key) return null;
  if (!members.every((m) => typeof key[m] === 'string')) return null;
  return Object.fromEntries(members.map((m) => [m, key[m] as string]));
}

function thumbprintOf(members: Record<string, string>): string {
  // JSON.stringify keeps the insertion order, which is the RFC's lexicographic one.
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Imported proof keys by thumbprint: a device signs every proof with one key, and importing is most of a check's cost. */
const KEY_CACHE_MAX = 10_000;
const importedKeys = new Map<string, Promise<CryptoKey | Uint8Array>>();

function importedKey(jkt: string, jwk: JWK, alg: string): Promise<CryptoKey | Uint8Array> {
  const cacheKey = `${alg}:${jkt}`;
  let key = importedKeys.get(cacheKey);
  if (!key) {
    if (importedKeys.size >= KEY_CACHE_MAX) importedKeys.delete(importedKeys.keys().next().value!);
    key = importJWK(jwk, alg);
    // A key that does not import is not remembered.
    key.catch(() => importedKeys.delete(cacheKey));
    importedKeys.set(cacheKey, key);
  }
  return key;
}

/** RFC 9449 §4.2: base64url of the SHA-256 of the ASCII access token. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

/** §4.3 item 9: compare scheme, host, port and path (normalised by URL), not query or fragment. */
function sameTarget(htu: string, url: string): boolean {
  try {
    const a = new URL(htu);
    const b = new URL(url);
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

/**
 * Proof ids seen within their validity window, bounded. When full of unexpired entries the oldest is
 * dropped: at worst a proof older than `capacity` newer ones could be replayed within its window (it
 * still needs the same token, method and URL), whereas refusing new proofs would let one client deny
 * service to everyone.
 */
export class ReplayCache {
  /** id → when it may be forgotten (ms). Insertion order is roughly expiry order. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly capacity: number,
    private readonly now: () => number,
  ) {}

  /** False when `id` was already seen and has not expired; otherwise records it. */
  remember(id: string, expiresAt: number): boolean {
    const now = this.now();
    const known = this.seen.get(id);
    if (known !== undefined && known > now) return false;
    if (this.seen.size >= this.capacity) this.evict(now);
    this.seen.set(id, expiresAt);
    return true;
  }

  sweep(): void {
    const now = this.now();
    for (const [id, expiresAt] of this.seen) if (expiresAt <= now) this.seen.delete(id);
  }

  get size(): number {
    return this.seen.size;
  }

  private evict(now: number): void {
    for (const [id, expiresAt] of this.seen) {
      if (expiresAt > now && this.seen.size < this.capacity) return;
      this.seen.delete(id);
    }
  }
}
