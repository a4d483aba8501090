import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { MfaChallenge } from './mfa-challenge.entity';

/** The only place that knows the mfa_challenges table's SQL. */
@Injectable()
export class ChallengesRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(challenge: MfaChallenge, db: Db = this.database.manager): Promise<void> {
    await db.getRepository(MfaChallenge).insert(challenge);
  }

  /** Raw and bound: the second step's first read. */
  async findById(id: string): Promise<MfaChallenge | null> {
    const [r] = await this.database.rows<Record<string, unknown>>('SELECT * FROM mfa_challenges WHERE id = ?', [id]);
    if (!r) return null;
    const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
    return {
      id: r.id as string,
      tokenMac: r.token_mac as string,
      userId: r.user_id as string,
      createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at),
      usedAt: num(r.used_at),
      failures: Number(r.failures ?? 0),
      deviceId: (r.device_id as string | null) ?? null,
      deviceName: (r.device_name as string | null) ?? null,
      useCookie: Boolean(Number(r.use_cookie ?? 0)),
      dpopJkt: (r.dpop_jkt as string | null) ?? null,
      ip: (r.ip as string | null) ?? null,
      userAgent: (r.user_agent as string | null) ?? null,
      webauthnChallenge: (r.webauthn_challenge as string | null) ?? null,
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
    return (await this.database.exec('UPDATE mfa_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ? AND failures < ?', [now, id, now, maxFailures], db)) === 1;
  }

  /**
   * Takes one of the challenge's attempts before its factor is checked, so concurrent wrong
   * codes cannot exceed `maxFailures` between a read and a write. False: none left (or it was
   * used or expired meanwhile), the token is dead.
   */
  async takeAttempt(id: string, now: number, maxFailures: number): Promise<boolean> {
    return (await this.database.exec('UPDATE mfa_challenges SET failures = failures + 1 WHERE id = ? AND failures < ? AND used_at IS NULL AND expires_at > ?', [id, maxFailures, now])) === 1;
  }

  /** A right second factor gives its attempt back: only wrong ones count. */
  async refundAttempt(id: string): Promise<void> {
    await this.database.exec('UPDATE mfa_challenges SET failures = failures - 1 WHERE id = ? AND failures > 0', [id]);
  }

  /** Every pending login of the user ends (an admin reset, a removed factor). */
  async endForUser(userId: string, now: number, db: Db): Promise<void> {
    await this.database.exec('UPDATE mfa_challenges SET used_at = ? WHERE user_id = ? AND used_at IS NULL', [now, userId], db);
  }

  /** Housekeeping: one bounded batch of challenges that expired before `before`. */
  deleteExpired(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'mfa_challenges', key: 'id', where: 'expires_at < ?', params: [before] }, batch);
  }
}
