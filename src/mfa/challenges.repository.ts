import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { MfaChallenge } from './mfa-challenge.entity';

/** The only place that knows the mfa_challenges table's SQL. */
@Injectable()
export class ChallengesRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(challenge: MfaChallenge, db: Db = this.database.manager): Promise<void> {
    await db.getRepository(MfaChallenge).insert(challenge);
  }

  findById(id: string): Promise<MfaChallenge | null> {
    return this.database.manager.getRepository(MfaChallenge).findOneBy({ id });
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

  /** A wrong second factor: one more failure; at `maxFailures` the challenge is used up. */
  async recordFailure(id: string, now: number, maxFailures: number): Promise<void> {
    await this.database.exec(
      // used_at first: MySQL evaluates SET assignments left to right, each seeing the ones before.
      'UPDATE mfa_challenges SET used_at = CASE WHEN failures + 1 >= ? THEN ? ELSE used_at END, failures = failures + 1 WHERE id = ? AND used_at IS NULL',
      [maxFailures, now, id],
    );
  }

  /** Every pending login of the user ends (an admin reset, a removed factor). */
  async endForUser(userId: string, now: number, db: Db): Promise<void> {
    await this.database.exec('UPDATE mfa_challenges SET used_at = ? WHERE user_id = ? AND used_at IS NULL', [now, userId], db);
  }

  /** Housekeeping: one bounded batch of challenges that expired before `before`. */
  async deleteExpired(before: number, batch: number): Promise<number> {
    const rows = await this.database.rows<{ id: string }>(`SELECT id FROM mfa_challenges WHERE expires_at < ? LIMIT ${Number(batch)}`, [before]);
    if (rows.length === 0) return 0;
    return this.database.exec(`DELETE FROM mfa_challenges WHERE id IN (${rows.map(() => '?').join(', ')})`, rows.map((r) => r.id));
  }
}
