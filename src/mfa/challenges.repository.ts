import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { flagOrNull, Numeric, numberOrNull } from '../database/columns';
import { MfaChallenge } from './mfa-challenge.entity';

/** An mfa_challenges row, as the drivers return it. */
interface ChallengeRow {
  id: string;
  token_mac: string;
  user_id: string;
  created_at: Numeric;
  expires_at: Numeric;
  used_at: Numeric | null;
  failures: Numeric | null;
  device_id: string | null;
  device_name: string | null;
  use_cookie: Numeric | null;
  dpop_jkt: string | null;
  ip: string | null;
  user_agent: string | null;
  webauthn_challenge: string | null;
}

/** The only place that knows the mfa_challenges table's SQL. */
@Injectable()
export class ChallengesRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(challenge: MfaChallenge, db: Db = this.database.manager): Promise<void> {
    await db.getRepository(MfaChallenge).insert(challenge);
  }

  /** Raw and bound: the second step's first read. */
  async findById(id: string): Promise<MfaChallenge | null> {
    const [r] = await this.database.rows<ChallengeRow>('SELECT * FROM mfa_challenges WHERE id = ?', [id]);
    if (!r) return null;
    return {
      id: r.id,
      tokenMac: r.token_mac,
      userId: r.user_id,
      createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at),
      usedAt: numberOrNull(r.used_at),
      failures: Number(r.failures ?? 0),
      deviceId: r.device_id ?? null,
      deviceName: r.device_name ?? null,
      useCookie: flagOrNull(r.use_cookie) ?? false,
      dpopJkt: r.dpop_jkt ?? null,
      ip: r.ip ?? null,
      userAgent: r.user_agent ?? null,
      webauthnChallenge: r.webauthn_challenge ?? null,
    };
  }

  /** The WebAuthn challenge offered with this login (a passkey as its second factor). */
  async setWebauthnChallenge(id: string, challenge: string): Promise<void> {
    await this.database.exec('UPDATE mfa_challenges SET webauthn_challenge = ? WHERE id = ?', [challenge, id]);
  }

  /**
   * Single use: marks the challenge used if it is still unused, unexpired and under the
   * failure limit. False when another request consumed it first (or it died meanwhile).
   */
  async consume(id: string, now: number, maxFailures: number, db: Db): Promise<boolean> {
    return (
      (await this.database.exec(
        'UPDATE mfa_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ? AND failures < ?',
        [now, id, now, maxFailures],
        db,
      )) === 1
    );
  }

  /**
   * Takes one of the challenge's attempts before its factor is checked, so concurrent wrong
   * codes cannot exceed `maxFailures` between a read and a write. False: none left (or it was
   * used or expired meanwhile), the token is dead.
   */
  async takeAttempt(id: string, now: number, maxFailures: number): Promise<boolean> {
    return (
      (await this.database.exec('UPDATE mfa_challenges SET failures = failures + 1 WHERE id = ? AND failures < ? AND used_at IS NULL AND expires_at > ?', [
        id,
        maxFailures,
        now,
      ])) === 1
    );
  }

  /** A right second factor gives its attempt back: only wrong ones count. */
  async refundAttempt(id: string): Promise<void> {
    await this.database.exec('UPDATE mfa_challenges SET failures = failures - 1 WHERE id = ? AND failures > 0', [id]);
  }

  /** Every pending login of the user ends (an admin reset, a removed factor). */
  async endForUser(userId: string, now: number, db: Db): Promise<void> {
    await this.database.exec('UPDATE mfa_challenges SET used_at = ? WHERE user_id = ? AND used_at IS NULL', [now, userId], db);
  }

  /** Account deletion: the user's pending and past second steps (they hold the login's IP and user agent) go. */
  deleteForUser(userId: string, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM mfa_challenges WHERE user_id = ?', [userId], db);
  }

  /** Housekeeping: one bounded batch of challenges that expired before `before`. */
  deleteExpired(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'mfa_challenges', key: 'id', where: 'expires_at < ?', params: [before] }, batch);
  }
}
