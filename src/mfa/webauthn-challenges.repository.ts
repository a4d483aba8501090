import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { WebAuthnChallenge, WebAuthnPurpose } from './webauthn-challenge.entity';

/** The only SQL on `webauthn_challenges`. */
@Injectable()
export class WebAuthnChallengesRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(row: WebAuthnChallenge, db: Db = this.database.manager): Promise<void> {
    await db.getRepository(WebAuthnChallenge).insert(row);
  }

  /**
   * Single use: deletes the challenge if it was offered for this purpose (and this user and
   * session, when bound) and has not expired. True for exactly one of any number of concurrent
   * answers; a replay, a stranger's challenge or an expired one finds nothing.
   */
  async consume(
    challenge: string,
    purpose: WebAuthnPurpose,
    bound: { userId: string; sessionId: string } | null,
    now: number,
    db: Db = this.database.manager,
  ): Promise<boolean> {
    const owner = bound === null ? 'user_id IS NULL AND session_id IS NULL' : 'user_id = ? AND session_id = ?';
    const params = bound === null ? [challenge, purpose, now] : [challenge, purpose, now, bound.userId, bound.sessionId];
    return (await this.database.exec(`DELETE FROM webauthn_challenges WHERE challenge = ? AND purpose = ? AND expires_at > ? AND ${owner}`, params, db)) === 1;
  }

  /** Every ceremony offered to the user (a registration, a step-up) ends; password-less sign-ins are bound to no one. */
  deleteForUser(userId: string, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM webauthn_challenges WHERE user_id = ?', [userId], db);
  }

  /** Housekeeping: one bounded batch of challenges that expired before `before`. */
  deleteExpired(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'webauthn_challenges', key: 'challenge', where: 'expires_at < ?', params: [before] }, batch);
  }
}
