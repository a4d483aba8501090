import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import type { ClientContext } from '../common/client-context';
import type { Db } from '../database/database.service';
import { ChallengesRepository } from './challenges.repository';
import { MfaChallenge } from './mfa-challenge.entity';
import { MfaKeys } from './mfa-keys';

/** Wrong second factors one mfaToken survives; the next login starts over. */
export const MAX_CHALLENGE_FAILURES = 5;
const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;
export const MFA_TOKEN_MAX_LENGTH = 80;

/** What the login asked for, kept until its second step opens the session. */
export interface PendingLogin {
  deviceId?: string;
  deviceName?: string;
  useCookie?: boolean;
  /** The DPoP key the login proved: the second step must prove it too, and the session is bound to it. */
  dpopJkt: string | null;
}

/**
 * The mfaToken: `<challenge id>.<256 random bits>`, of which only an HMAC is stored. It is
 * looked up by id and compared in constant time, lives MFA_TOKEN_TTL, dies after
 * MAX_CHALLENGE_FAILURES wrong factors, and is consumed by a conditional UPDATE in the
 * transaction that opens the session: of two concurrent second steps, one wins.
 */
@Injectable()
export class MfaChallenges {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly keys: MfaKeys,
    private readonly repository: ChallengesRepository,
  ) {}

  async issue(userId: string, login: PendingLogin, client: ClientContext): Promise<{ token: string; challenge: MfaChallenge }> {
    const now = this.clock.now();
    const id = uuidv7(now);
    const token = `${id}.${randomBytes(32).toString('base64url')}`;
    const challenge: MfaChallenge = {
      id,
      tokenMac: this.keys.mac('challenge', token),
      userId,
      createdAt: now,
      expiresAt: now + this.config.mfaTokenTtl * 1000,
      usedAt: null,
      failures: 0,
      deviceId: login.deviceId ?? null,
      deviceName: login.deviceName ?? null,
      useCookie: login.useCookie === true,
      dpopJkt: login.dpopJkt,
      ip: client.ip,
      userAgent: client.userAgent,
      webauthnChallenge: null,
    };
    await this.repository.insert(challenge);
    return { token, challenge };
  }

  /** The live challenge of an authentic token, or null (unknown, forged, used, expired, or out of attempts). */
  async find(token: unknown): Promise<MfaChallenge | null> {
    if (typeof token !== 'string' || token.length > MFA_TOKEN_MAX_LENGTH) return null;
    const m = TOKEN.exec(token);
    if (!m) return null;
    const challenge = await this.repository.findById(m[1]);
    if (!challenge || !this.keys.matches('challenge', token, challenge.tokenMac)) return null;
    const live = challenge.usedAt === null && challenge.expiresAt > this.clock.now() && challenge.failures < MAX_CHALLENGE_FAILURES;
    return live ? challenge : null;
  }

  setWebauthnChallenge(challenge: MfaChallenge, webauthnChallenge: string): Promise<void> {
    challenge.webauthnChallenge = webauthnChallenge;
    return this.repository.setWebauthnChallenge(challenge.id, webauthnChallenge);
  }

  /** One attempt of the challenge, taken before its factor is checked: false when none is left. */
  takeAttempt(challenge: MfaChallenge): Promise<boolean> {
    return this.repository.takeAttempt(challenge.id, this.clock.now(), MAX_CHALLENGE_FAILURES);
  }

  /** Anything but a wrong factor gives the attempt back. */
  refundAttempt(challenge: MfaChallenge): Promise<void> {
    return this.repository.refundAttempt(challenge.id);
  }

  /** In the transaction that opens the session: false when another second step consumed it first. */
  consume(challenge: MfaChallenge, db: Db): Promise<boolean> {
    return this.repository.consume(challenge.id, this.clock.now(), MAX_CHALLENGE_FAILURES, db);
  }

  endForUser(userId: string, db: Db): Promise<void> {
    return this.repository.endForUser(userId, this.clock.now(), db);
  }

  deleteForUser(userId: string, db: Db): Promise<number> {
    return this.repository.deleteForUser(userId, db);
  }
}
