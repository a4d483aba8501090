import { Injectable } from '@nestjs/common';
import { IsNull, Not } from 'typeorm';
import type { Role } from '../common/role';
import { Db, DatabaseService } from '../database/database.service';
import { Numeric, numberOrNull } from '../database/columns';
import { User } from './user.entity';

/** A user's standing as of a row lock: what a login or a password change must re-check. */
export interface LockedUser {
  passwordHash: string;
  disabledAt: number | null;
  passwordResetRequiredAt: number | null;
}

/**
 * The only writer of the users table. (Two reads join it from elsewhere, on purpose: the
 * refresh statement reads the role and disabled flag with the session in one indexed read, and
 * the admin's list counts sessions per user in one statement; see docs/ARCHITECTURE.md.)
 */
@Injectable()
export class UsersRepository {
  constructor(private readonly database: DatabaseService) {}

  private repo(db: Db = this.database.manager) {
    return db.getRepository(User);
  }

  findById(id: string, db?: Db): Promise<User | null> {
    return this.repo(db).findOneBy({ id });
  }

  /**
   * `email` must already be normalised. `causal`: see every write committed anywhere before
   * this read (a Galera node may lag behind an account just registered on another node); used
   * by every login alike, so that a known and an unknown address still cost the same.
   */
  findByEmail(email: string, db?: Db, causal = false): Promise<User | null> {
    const find = (d: Db) => this.repo(d).findOneBy({ email });
    return causal && !db ? this.database.causally(find) : find(db ?? this.database.manager);
  }

  async insert(user: User, db: Db): Promise<void> {
    await this.repo(db).insert(user);
  }

  /**
   * Locks the user row for the enclosing transaction (on MySQL; SQLite transactions are queued
   * instead), serialising whatever else would change this user's sessions, and returns the
   * standing as of that lock.
   */
  async lock(userId: string, db: Db): Promise<LockedUser | null> {
    const rows = await db.query(
      `${this.database.causalPrefix}SELECT disabled_at, password_hash, password_reset_required_at FROM users WHERE id = ?${this.database.forUpdate}`,
      [userId],
    );
    const row = rows[0] as { disabled_at: Numeric | null; password_hash: string; password_reset_required_at: Numeric | null } | undefined;
    return row
      ? { passwordHash: row.password_hash, disabledAt: numberOrNull(row.disabled_at), passwordResetRequiredAt: numberOrNull(row.password_reset_required_at) }
      : null;
  }

  /** Every administrator, locked for the enclosing transaction (the last-admin rule). */
  lockAdmins(db: Db): Promise<User[]> {
    return this.repo(db).find({ where: { role: 'admin' }, ...(this.database.sqlite ? {} : { lock: { mode: 'pessimistic_write' as const } }) });
  }

  async recordLogin(userId: string, at: number, db: Db): Promise<void> {
    await this.repo(db).update({ id: userId }, { lastLoginAt: at });
  }

  /** Compare-and-swap on the hash the caller checked: false when someone changed it first. A new password settles a reset that was owed. */
  async swapPasswordHash(userId: string, expectedHash: string, passwordHash: string, at: number, db: Db): Promise<boolean> {
    const result = await this.repo(db).update(
      { id: userId, passwordHash: expectedHash },
      { passwordHash, passwordChangedAt: at, passwordResetRequiredAt: null, updatedAt: at },
    );
    return result.affected === 1;
  }

  /**
   * Compare-and-swap on the address the caller read: the account moves to `email`, which counts
   * as proved (a link mailed there was used). False when the address changed first. An address
   * another account holds fails on UQ_users_email, at commit time and whatever raced it.
   */
  async swapEmail(userId: string, expectedEmail: string, email: string, at: number, db: Db): Promise<boolean> {
    const result = await this.repo(db).update({ id: userId, email: expectedEmail }, { email, emailVerifiedAt: at, updatedAt: at });
    return result.affected === 1;
  }

  async requirePasswordReset(userId: string, at: number, db: Db): Promise<void> {
    await this.repo(db).update({ id: userId }, { passwordResetRequiredAt: at, updatedAt: at });
  }

  /** Sets or clears disabled_at; false when the user was already in that state (or absent). */
  async setDisabled(userId: string, disabled: boolean, at: number, db: Db): Promise<boolean> {
    const result = await this.repo(db).update(
      { id: userId, disabledAt: disabled ? IsNull() : Not(IsNull()) },
      { disabledAt: disabled ? at : null, updatedAt: at },
    );
    return (result.affected ?? 0) > 0;
  }

  /** Marks the address as proved; keeps the first proof's time. */
  async setEmailVerified(userId: string, at: number, db: Db): Promise<void> {
    await this.repo(db).update({ id: userId, emailVerifiedAt: IsNull() }, { emailVerifiedAt: at, updatedAt: at });
  }

  async setRole(userId: string, role: Role, at: number, db: Db): Promise<void> {
    await this.repo(db).update({ id: userId }, { role, updatedAt: at });
  }

  /** Account deletion: the row goes (its address may register again); false when it was not there. */
  async delete(userId: string, db: Db): Promise<boolean> {
    return (await this.database.exec('DELETE FROM users WHERE id = ?', [userId], db)) === 1;
  }
}
