import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import type { ClientContext } from '../common/client-context';
import { Db, DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { normalizeEmail } from './email';
import { PasswordService } from './password.service';
import { Role, User } from './user.entity';
import { IsNull, Not } from 'typeorm';

export interface NewUser {
  email: string;
  password: string;
  name?: string | null;
  role?: Role;
}

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly passwords: PasswordService,
    private readonly audit: AuditService,
  ) {}

  /** Self sign-up. A duplicate e-mail surfaces as a unique violation, mapped to 409 in one place. */
  async register(input: NewUser, client: ClientContext): Promise<User> {
    if (this.config.registration === 'closed') throw ApiError.forbidden('Registration is closed.');
    return this.create({ ...input, role: 'user' }, client);
  }

  async create(input: NewUser, client: ClientContext | null, actorId: string | null = null): Promise<User> {
    const passwordHash = await this.passwords.hash(input.password);
    const now = Date.now();
    const user: User = {
      id: uuidv7(now),
      email: normalizeEmail(input.email),
      name: input.name ?? null,
      passwordHash,
      role: input.role ?? 'user',
      disabledAt: null,
      passwordChangedAt: null,
      createdAt: now,
      updatedAt: now,
      lastLoginAt: null,
    };
    await this.database.transaction(async (db) => {
      await db.getRepository(User).insert(user);
      await this.audit.record({ type: 'user_registered', userId: user.id, actorId, client, details: { role: user.role } }, db);
    });
    return user;
  }

  findById(id: string, db: Db = this.database.manager): Promise<User | null> {
    return db.getRepository(User).findOneBy({ id });
  }

  findByEmail(email: string, db: Db = this.database.manager): Promise<User | null> {
    return db.getRepository(User).findOneBy({ email: normalizeEmail(email) });
  }

  async recordLogin(userId: string, at: number, db: Db): Promise<void> {
    await db.getRepository(User).update({ id: userId }, { lastLoginAt: at });
  }

  /**
   * Compare-and-swap on the hash the current password was checked against: of two concurrent
   * changes only one succeeds; the other finds the hash changed and returns false.
   */
  async setPassword(userId: string, checkedHash: string, passwordHash: string, at: number, db: Db): Promise<boolean> {
    const result = await db.getRepository(User).update({ id: userId, passwordHash: checkedHash }, { passwordHash, passwordChangedAt: at, updatedAt: at });
    return result.affected === 1;
  }

  /**
   * ADMIN_EMAIL/ADMIN_PASSWORD: create that admin when absent. Never overwrites a password,
   * and never promotes an existing account (someone may have registered that address first).
   */
  async onApplicationBootstrap(): Promise<void> {
    const { adminEmail, adminPassword } = this.config;
    if (!adminEmail || !adminPassword) return;
    const existing = await this.findByEmail(adminEmail);
    if (existing) {
      if (existing.role !== 'admin') this.logger.warn(`ADMIN_EMAIL ${adminEmail} belongs to an existing non-admin account; not promoting it (use: npm run cli -- promote <email>)`);
      return;
    }
    try {
      await this.create({ email: adminEmail, password: adminPassword, name: 'Administrator', role: 'admin' }, null);
      this.logger.log(`created admin ${adminEmail}`);
    } catch (error) {
      // Another instance starting at the same moment may have created it first.
      if (!(await this.findByEmail(adminEmail))) throw error;
    }
  }

  /**
   * Sets (disabled=true) or clears disabled_at inside the caller's transaction. Returns false
   * when nothing changed: no such user, or already in that state.
   */
  async setDisabled(userId: string, disabled: boolean, at: number, db: Db): Promise<boolean> {
    const result = await db.getRepository(User).update({ id: userId, disabledAt: disabled ? IsNull() : Not(IsNull()) }, { disabledAt: disabled ? at : null, updatedAt: at });
    return (result.affected ?? 0) > 0;
  }

  /** Makes an existing user an administrator (CLI `promote`), recording `user_promoted`. */
  async promote(email: string, actor: { actorId?: string | null; client?: ClientContext | null } = {}): Promise<User> {
    return this.database.transaction(async (db) => {
      const user = await this.findByEmail(email, db);
      if (!user) throw ApiError.notFound(`No user with the e-mail address ${normalizeEmail(email)}.`);
      if (user.role === 'admin') return user;
      const now = Date.now();
      await db.getRepository(User).update({ id: user.id }, { role: 'admin', updatedAt: now });
      await this.audit.record({ type: 'user_promoted', userId: user.id, actorId: actor.actorId ?? null, client: actor.client ?? null, details: { from: 'user', to: 'admin' } }, db);
      return { ...user, role: 'admin' as const, updatedAt: now };
    });
  }

  /**
   * Makes an administrator an ordinary user (CLI `demote`), recording `user_demoted`. Refuses
   * to remove the last enabled administrator; the admin rows are locked first (MySQL; SQLite
   * transactions are queued) so two concurrent demotions cannot both pass the check.
   */
  async demote(email: string, actor: { actorId?: string | null; client?: ClientContext | null } = {}): Promise<User> {
    return this.database.transaction(async (db) => {
      const admins = await db.getRepository(User).find({ where: { role: 'admin' }, ...(this.database.sqlite ? {} : { lock: { mode: 'pessimistic_write' as const } }) });
      const user = await this.findByEmail(email, db);
      if (!user) throw ApiError.notFound(`No user with the e-mail address ${normalizeEmail(email)}.`);
      if (user.role !== 'admin') return user;
      if (!admins.some((a) => a.id !== user.id && a.disabledAt === null)) throw ApiError.forbidden('This is the last administrator; promote another user first.');
      const now = Date.now();
      await db.getRepository(User).update({ id: user.id }, { role: 'user', updatedAt: now });
      await this.audit.record({ type: 'user_demoted', userId: user.id, actorId: actor.actorId ?? null, client: actor.client ?? null, details: { from: 'admin', to: 'user' } }, db);
      return { ...user, role: 'user' as const, updatedAt: now };
    });
  }
}
