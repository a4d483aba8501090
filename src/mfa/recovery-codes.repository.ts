import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { RecoveryCode } from './recovery-code.entity';

/** The only place that knows the recovery_codes table's SQL. */
@Injectable()
export class RecoveryCodesRepository {
  constructor(private readonly database: DatabaseService) {}

  /** A new set replaces the old one, in the caller's transaction. */
  async replace(userId: string, codes: RecoveryCode[], db: Db): Promise<void> {
    await this.deleteAllForUser(userId, db);
    if (codes.length > 0) await db.getRepository(RecoveryCode).insert(codes);
  }

  deleteAllForUser(userId: string, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM recovery_codes WHERE user_id = ?', [userId], db);
  }

  async remaining(userId: string): Promise<number> {
    const [row] = await this.database.rows<{ n: number | string }>('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL', [userId]);
    return Number(row?.n ?? 0);
  }

  /** Single use: marks the unused code with this keyed hash used; false when there is none (wrong, or used already, perhaps a moment ago). */
  async use(userId: string, codeHash: string, now: number): Promise<boolean> {
    return (
      (await this.database.exec('UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL', [now, userId, codeHash])) === 1
    );
  }
}
