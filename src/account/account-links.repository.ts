import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { AccountLink, LinkPurpose } from './account-link.entity';

/** The only SQL on `account_links`. */
@Injectable()
export class AccountLinksRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(link: AccountLink, db: Db): Promise<void> {
    await db.getRepository(AccountLink).insert(link);
  }

  findById(id: string, db: Db = this.database.manager): Promise<AccountLink | null> {
    return db.getRepository(AccountLink).findOneBy({ id });
  }

  /** Every unused link of this purpose stops working (a newer one was just made, or the purpose is fulfilled). */
  async supersede(userId: string, purpose: LinkPurpose, at: number, db: Db, createdAfter?: number): Promise<void> {
    const after = createdAfter === undefined ? '' : ' AND created_at > ?';
    await this.database.exec(
      `UPDATE account_links SET superseded_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL AND superseded_at IS NULL${after}`,
      [at, userId, purpose, ...(createdAfter === undefined ? [] : [createdAfter])],
      db,
    );
  }

  /** Compare-and-swap: true for exactly one of any number of concurrent redemptions of a usable link. */
  async use(id: string, purpose: LinkPurpose, at: number, db: Db): Promise<boolean> {
    const changed = await this.database.exec(
      'UPDATE account_links SET used_at = ? WHERE id = ? AND purpose = ? AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?',
      [at, id, purpose, at],
      db,
    );
    return changed === 1;
  }

  listForUser(userId: string): Promise<AccountLink[]> {
    return this.database.manager.getRepository(AccountLink).find({ where: { userId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async countSince(userId: string, purpose: LinkPurpose, since: number, db: Db): Promise<number> {
    const [row] = await this.database.rows<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM account_links WHERE user_id = ? AND purpose = ? AND created_at >= ?',
      [userId, purpose, since],
      db,
    );
    return Number(row.n);
  }

  deleteForUser(userId: string, db: Db): Promise<number> {
    return this.database.exec('DELETE FROM account_links WHERE user_id = ?', [userId], db);
  }

  /** Housekeeping: one bounded batch of links that expired before `before`. */
  deleteExpired(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'account_links', key: 'id', where: 'expires_at < ?', params: [before] }, batch);
  }
}
