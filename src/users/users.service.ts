import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import { Clock } from '../common/clock';
import { Actor, SYSTEM_ACTOR } from '../common/client-context';
import { normalizeEmail } from '../common/email';
import type { Role } from '../common/role';
import { Db, DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { MailOutbox } from '../mail/mail-outbox';
import { PasswordService } from './password.service';
import { User } from './user.entity';
import { LockedUser, UsersRepository } from './users.repository';

export interface NewUser {
  email: string;
  password: string;
  name?: string | null;
  role?: Role;
  /** An address the operator vouches for (ADMIN_EMAIL, `cli create-admin`): no verification mail. */
  emailVerified?: boolean;
}

/** Users and their own rules: registration, lookup, password hash, disabled flag, role. Knows nothing of tokens. */
@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly repository: UsersRepository,
    private readonly passwords: PasswordService,
    private readonly audit: AuditService,
    private readonly mail: MailOutbox,
    private readonly clock: Clock,
  ) {}

  /**
   * Self sign-up, and the verification mail in the same transaction. A duplicate e-mail
   * surfaces as a unique violation, mapped to 409 in one place.
   */
  async register(input: NewUser, actor: Actor): Promise<User> {
    if (this.config.registration === 'closed') throw ApiError.forbidden('Registration is closed.');
    const passwordHash = await this.passwords.hash(input.password);
    return this.database.transaction(async (db) => {
      const user = await this.insert({ ...input, role: 'user', emailVerified: false }, passwordHash, actor, db);
      await this.mail.enqueue({ kind: 'email_verification', userId: user.id, data: { origin: 'registration' } }, db);
      return user;
    });
  }

  /** A new account and its `user_registered` event; pass `db` to join the caller's transaction. */
  async create(input: NewUser, actor: Actor, db?: Db): Promise<User> {
    const passwordHash = await this.passwords.hash(input.password);
    return this.database.within(db, (tx) => this.insert(input, passwordHash, actor, tx));
  }

  private async insert(input: NewUser, passwordHash: string, actor: Actor, db: Db): Promise<User> {
    const now = this.clock.now();
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
      emailVerifiedAt: input.emailVerified ? now : null,
      passwordResetRequiredAt: null,
    };
    await this.repository.insert(user, db);
    await this.audit.record({ type: 'user_registered', userId: user.id, ...actor, details: { role: user.role } }, db);
    return user;
  }

  findById(id: string, db?: Db): Promise<User | null> {
    return this.repository.findById(id, db);
  }

  findByEmail(email: string, db?: Db): Promise<User | null> {
    return this.repository.findByEmail(normalizeEmail(email), db);
  }

  /** The account a login names, read causally on a multi-primary cluster (UsersRepository.findByEmail). */
  findForLogin(email: string): Promise<User | null> {
    return this.repository.findByEmail(normalizeEmail(email), undefined, true);
  }

  /** Locks the user row for the caller's transaction and returns its standing then. */
  lock(userId: string, db: Db): Promise<LockedUser | null> {
    return this.repository.lock(userId, db);
  }

  setEmailVerified(userId: string, at: number, db: Db): Promise<void> {
    return this.repository.setEmailVerified(userId, at, db);
  }

  recordLogin(userId: string, at: number, db: Db): Promise<void> {
    return this.repository.recordLogin(userId, at, db);
  }

  /**
   * Compare-and-swap on the hash the current password was checked against: of two concurrent
   * changes only one succeeds; the other finds the hash changed and gets false.
   */
  setPasswordHash(userId: string, checkedHash: string, passwordHash: string, at: number, db: Db): Promise<boolean> {
    return this.repository.swapPasswordHash(userId, checkedHash, passwordHash, at, db);
  }

  /** An e-mail change (or its revert) from a mailed link: see UsersRepository.swapEmail. */
  setEmail(userId: string, expectedEmail: string, email: string, at: number, db: Db): Promise<boolean> {
    return this.repository.swapEmail(userId, expectedEmail, normalizeEmail(email), at, db);
  }

  /** "This wasn't me": the password stops signing in until it is replaced (setPasswordHash clears it). */
  requirePasswordReset(userId: string, at: number, db: Db): Promise<void> {
    return this.repository.requirePasswordReset(userId, at, db);
  }

  /** Sets or clears disabled_at; false when nothing changed (no such user, or already so). */
  setDisabled(userId: string, disabled: boolean, at: number, db: Db): Promise<boolean> {
    return this.repository.setDisabled(userId, disabled, at, db);
  }

  /**
   * Gives a user the role (`user_promoted` / `user_demoted`), inside the caller's transaction.
   * Refuses to demote the last enabled administrator: the admin rows are locked first, so two
   * concurrent demotions cannot both pass the check. Returns whether the role changed.
   */
  async setRole(email: string, role: Role, actor: Actor, db: Db): Promise<{ user: User; changed: boolean }> {
    const admins = role === 'user' ? await this.repository.lockAdmins(db) : [];
    const user = await this.findByEmail(email, db);
    if (!user) throw ApiError.notFound(`No user with the e-mail address ${normalizeEmail(email)}.`);
    if (user.role === role) return { user, changed: false };
    if (role === 'user') requireAnotherAdmin(admins, user.id);
    const now = this.clock.now();
    await this.repository.setRole(user.id, role, now, db);
    await this.audit.record(
      { type: role === 'admin' ? 'user_promoted' : 'user_demoted', userId: user.id, ...actor, details: { from: user.role, to: role } },
      db,
    );
    return { user: { ...user, role, updatedAt: now }, changed: true };
  }

  /**
   * Account deletion, inside the caller's transaction, which must hold the user's row lock
   * (lock()): the users row goes, so the address may register again. Never the last enabled
   * administrator: the admin rows are locked first, as for a demotion, so two concurrent
   * deletions (or a deletion and a demotion) cannot both pass the check. Returns the user as it
   * was, or null when there was no such user.
   */
  async remove(userId: string, db: Db): Promise<User | null> {
    const user = await this.repository.findById(userId, db);
    if (!user) return null;
    if (user.role === 'admin') requireAnotherAdmin(await this.repository.lockAdmins(db), user.id);
    return (await this.repository.delete(userId, db)) ? user : null;
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
      if (existing.role !== 'admin')
        this.logger.warn(`ADMIN_EMAIL ${adminEmail} belongs to an existing non-admin account; not promoting it (use: npm run cli -- promote <email>)`);
      return;
    }
    try {
      await this.create({ email: adminEmail, password: adminPassword, name: 'Administrator', role: 'admin', emailVerified: true }, SYSTEM_ACTOR);
      this.logger.log(`created admin ${adminEmail}`);
    } catch (error) {
      // Another instance starting at the same moment may have created it first.
      if (!(await this.findByEmail(adminEmail))) throw error;
    }
  }
}

/** The last-admin rule (a demotion, a deletion): another enabled administrator must remain. */
function requireAnotherAdmin(admins: User[], userId: string): void {
  if (!admins.some((a) => a.id !== userId && a.role === 'admin' && a.disabledAt === null)) {
    throw ApiError.forbidden('This is the last administrator; promote another user first.');
  }
}
