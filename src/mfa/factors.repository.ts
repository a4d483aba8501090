import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { flagOrNull, Numeric, numberOrNull } from '../database/columns';
import { MfaFactor } from './mfa-factor.entity';

/** The only place that knows the mfa_factors table's SQL. */
@Injectable()
export class FactorsRepository {
  constructor(private readonly database: DatabaseService) {}

  /**
   * Every factor of the user, pending ones included, oldest first. Raw and bound: every password
   * login asks (is a second step due?), so it skips the query builder.
   */
  async listForUser(userId: string, db: Db = this.database.manager): Promise<MfaFactor[]> {
    const rows = await this.database.rows<FactorRow>('SELECT * FROM mfa_factors WHERE user_id = ? ORDER BY created_at, id', [userId], db);
    return rows.map(toFactor);
  }

  findForUser(userId: string, id: string, db: Db = this.database.manager): Promise<MfaFactor | null> {
    return db.getRepository(MfaFactor).findOneBy({ userId, id });
  }

  findByCredentialId(credentialId: string): Promise<MfaFactor | null> {
    return this.database.manager.getRepository(MfaFactor).findOneBy({ credentialId });
  }

  async insert(factor: MfaFactor, db: Db = this.database.manager): Promise<void> {
    await db.getRepository(MfaFactor).insert(factor);
  }

  async rename(userId: string, id: string, name: string): Promise<boolean> {
    return (await this.database.exec('UPDATE mfa_factors SET name = ? WHERE id = ? AND user_id = ?', [name, id, userId])) === 1;
  }

  async delete(userId: string, id: string, db: Db): Promise<boolean> {
    return (await this.database.exec('DELETE FROM mfa_factors WHERE id = ? AND user_id = ?', [id, userId], db)) === 1;
  }

  deleteAllForUser(userId: string, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM mfa_factors WHERE user_id = ?', [userId], db);
  }

  /** The factors of the user created at or after `since` go (a reported sign-in's); returns how many. */
  removeCreatedSince(userId: string, since: number, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM mfa_factors WHERE user_id = ? AND created_at >= ?', [userId, since], db);
  }

  /**
   * Compare-and-swap: accepts a TOTP code of `step` only if no code of this step or a later one
   * was accepted before (no replay, not even inside the ±1 step window), and the factor is not
   * locked. `activate`: also activates a pending factor (its first code).
   */
  async acceptTotpStep(id: string, step: number, now: number, activate: boolean, db?: Db): Promise<boolean> {
    const sql = `UPDATE mfa_factors SET totp_last_step = ?, last_used_at = ?, consecutive_failures = 0${activate ? ', activated_at = ?' : ''}
                  WHERE id = ? AND locked_at IS NULL AND (totp_last_step IS NULL OR totp_last_step < ?) AND activated_at IS ${activate ? '' : 'NOT '}NULL`;
    return (await this.database.exec(sql, [step, now, ...(activate ? [now] : []), id, step], db)) === 1;
  }

  /** A successful use: the factor's failures are forgotten. */
  async recordUse(id: string, now: number): Promise<void> {
    await this.database.exec('UPDATE mfa_factors SET last_used_at = ?, consecutive_failures = 0 WHERE id = ?', [now, id]);
  }

  /** One more consecutive failure for each factor; those that reach `max` are locked. Returns the ids locked by this call. */
  async recordFailures(ids: string[], max: number, now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const placeholders = ids.map(() => '?').join(', ');
    await this.database.exec(
      // locked_at first: MySQL evaluates SET assignments left to right, each seeing the ones before.
      `UPDATE mfa_factors SET locked_at = CASE WHEN consecutive_failures + 1 >= ? THEN ? ELSE locked_at END, consecutive_failures = consecutive_failures + 1
        WHERE locked_at IS NULL AND id IN (${placeholders})`,
      [max, now, ...ids],
    );
    const rows = await this.database.rows<{ id: string }>(`SELECT id FROM mfa_factors WHERE locked_at = ? AND id IN (${placeholders})`, [now, ...ids]);
    return rows.map((r) => r.id);
  }

  /** Passkeys: the new sign count, only forwards (a counter that goes backwards is a cloned authenticator). */
  async advanceSignCount(id: string, signCount: number, now: number, backedUp: boolean | null): Promise<boolean> {
    const affected = await this.database.exec(
      'UPDATE mfa_factors SET sign_count = ?, last_used_at = ?, consecutive_failures = 0, backed_up = COALESCE(?, backed_up) WHERE id = ? AND locked_at IS NULL AND (sign_count IS NULL OR sign_count = 0 OR sign_count < ?)',
      [signCount, now, backedUp === null ? null : backedUp ? 1 : 0, id, signCount],
    );
    return affected === 1;
  }
}

/** An mfa_factors row, as the drivers return it. */
interface FactorRow {
  id: string;
  user_id: string;
  type: MfaFactor['type'];
  name: string;
  created_at: Numeric;
  last_used_at: Numeric | null;
  activated_at: Numeric | null;
  totp_secret: string | null;
  totp_last_step: Numeric | null;
  credential_id: string | null;
  public_key: string | null;
  sign_count: Numeric | null;
  transports: string | null;
  backup_eligible: Numeric | boolean | null;
  backed_up: Numeric | boolean | null;
  aaguid: string | null;
  consecutive_failures: Numeric | null;
  locked_at: Numeric | null;
}

function toFactor(r: FactorRow): MfaFactor {
  return {
    id: r.id,
    userId: r.user_id,
    type: r.type,
    name: r.name,
    createdAt: Number(r.created_at),
    lastUsedAt: numberOrNull(r.last_used_at),
    activatedAt: numberOrNull(r.activated_at),
    totpSecret: r.totp_secret ?? null,
    totpLastStep: numberOrNull(r.totp_last_step),
    credentialId: r.credential_id ?? null,
    publicKey: r.public_key ?? null,
    signCount: numberOrNull(r.sign_count),
    transports: r.transports ?? null,
    backupEligible: flagOrNull(r.backup_eligible),
    backedUp: flagOrNull(r.backed_up),
    aaguid: r.aaguid ?? null,
    consecutiveFailures: Number(r.consecutive_failures ?? 0),
    lockedAt: numberOrNull(r.locked_at),
  };
}
