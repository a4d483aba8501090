import { decodeProtectedHeader, jwtVerify } from 'jose';
import { SIGNING_ALGORITHMS, type VerificationKey } from './keys';

/** The OpenID CAEP 1.0 event type latchkey's feed carries. */
export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';

/** What a verified session-revoked SET says. */
export interface SessionRevokedEvent {
  sessionId: string;
  userId: string | undefined;
  /** When the session was revoked, in seconds (the event's `event_timestamp`, else the SET's `iat`). */
  revokedAt: number;
  reason: string | undefined;
  jti: string;
}

/**
 * A SET that no retry can make acceptable: not a SET, not for this receiver, or a signature that
 * does not verify under the key its `kid` names. The feed skips it and reports it.
 */
export class RejectedEventError extends Error {
  override name = 'RejectedEventError';
}

/**
 * A SET that cannot be verified yet: its `kid` is not in the JWKS as last read, or the JWKS could
 * not be read. Typically a key latchkey started signing with a moment ago (`keys:rotate
 * --immediate`, `keys:revoke`): the feed must hold its cursor before it and retry, never skip it.
 */
export class UnverifiableEventError extends Error {
  override name = 'UnverifiableEventError';
}

export interface SetVerification {
  issuer: string;
  /** The receiver's client id: latchkey addresses each SET to the resource server reading it. */
  audience: string;
  /** Resolves undefined for a kid the JWKS does not hold; rejects when the JWKS cannot be read. */
  resolveKey: (kid: string) => Promise<VerificationKey | undefined>;
  now: () => number;
}

/**
 * Verifies one Security Event Token (RFC 8417) of the feed and reads its session-revoked event.
 * Returns null for a valid SET of another event type (nothing to do). Throws {@link RejectedEventError}
 * for anything not signed by the issuer for this receiver, and {@link UnverifiableEventError} when
 * its key is not known (yet).
 */
export async function readSessionRevoked(set: string, options: SetVerification): Promise<SessionRevokedEvent | null> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(set);
  } catch {
    throw new RejectedEventError('not a JWS');
  }
  if (typeof header.typ !== 'string' || !/^(application\/)?secevent\+jwt$/i.test(header.typ)) throw new RejectedEventError('typ is not secevent+jwt');
  if (typeof header.alg !== 'string' || !SIGNING_ALGORITHMS.includes(header.alg)) throw new RejectedEventError('unacceptable alg');
  if (typeof header.kid !== 'string') throw new RejectedEventError('no kid');
  let key: VerificationKey | undefined;
  try {
    key = await options.resolveKey(header.kid);
  } catch (error) {
    throw new UnverifiableEventError(`the JWKS could not be read to find key ${JSON.stringify(header.kid.slice(0, 64))}: ${(error as Error).message}`);
  }
  if (!key) throw new UnverifiableEventError(`key ${JSON.stringify(header.kid.slice(0, 64))} is not in the JWKS, even just refetched`);
  if (key.alg !== header.alg) throw new RejectedEventError('alg does not match the key');

  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(set, key.key, {
      algorithms: [key.alg],
      issuer: options.issuer,
      audience: options.audience,
      typ: 'secevent+jwt',
      requiredClaims: ['jti', 'iat'],
      currentDate: new Date(options.now()),
    }));
  } catch (error) {
    throw new RejectedEventError(`verification failed (${(error as { code?: string }).code ?? 'error'})`);
  }

  const event = objectAt(payload.events, SESSION_REVOKED);
  if (!event) return null;
  const sessionId = objectAt(objectAt(payload, 'sub_id'), 'session')?.id;
  if (typeof sessionId !== 'string' || sessionId === '') throw new RejectedEventError('no session id in sub_id');
  const userId = objectAt(objectAt(payload, 'sub_id'), 'user')?.id;
  const timestamp = typeof event.event_timestamp === 'number' ? event.event_timestamp : (payload.iat as number);
  const reason = objectAt(event, 'reason_admin')?.en;
  return {
    sessionId,
    userId: typeof userId === 'string' ? userId : undefined,
    revokedAt: timestamp,
    reason: typeof reason === 'string' ? reason : undefined,
    jti: String(payload.jti),
  };
}

function objectAt(value: unknown, key: string): Record<string, unknown> | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const inner = (value as Record<string, unknown>)[key];
  return inner && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Record<string, unknown>) : undefined;
}
