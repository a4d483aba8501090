import { mock } from 'node:test';
import type { Provider } from '@nestjs/common';
import { uuidv7 } from '../../src/common/ids';
import type { Role } from '../../src/common/role';
import type { Clock } from '../../src/common/clock';
import type { AccountLink, LinkPurpose } from '../../src/account/account-link.entity';
import { AccountLinksRepository } from '../../src/account/account-links.repository';
import { MemoryCounters, CounterStore } from '../../src/rate-limit/counter-store';
import type { RevokeReason, Session } from '../../src/sessions/session.entity';
import { DeviceHistory, RefreshRow, SessionScope, SessionsRepository } from '../../src/sessions/sessions.repository';
import { Assurance, isAcr, parseAmr } from '../../src/sessions/assurance';
import { PasswordService } from '../../src/users/password.service';
import type { User } from '../../src/users/user.entity';
import { LockedUser, UsersRepository } from '../../src/users/users.repository';
import { FakeDatabase, Transactional } from './service-test';

/**
 * In-memory stand-ins for the repositories whose stored state the service rules depend on,
 * for the service-test layer (test/service/). Each implements its repository's public methods
 * (the compiler keeps them in step) with the semantics of its SQL: the same filters, the same
 * compare-and-swaps (an update that matches no row reports false), and copies on every read, as
 * a database hands out fresh rows. The tables roll back with FakeDatabase's transactions.
 */

/** The public surface of a class: what a fake must offer to stand in for it. */
type PublicOf<T> = { [K in keyof T]: T[K] };

/** Ids ordered as the database orders them (binary, as `ORDER BY id` and `id > ?`), not by locale. */
const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface Rows {
  users: Map<string, User>;
  sessions: Map<string, Session>;
  links: Map<string, AccountLink>;
  /** Users with an active second factor (the EXISTS on mfa_factors in the refresh read). */
  activeFactors: Set<string>;
}

/** The "database" of a service test: a few tables, snapshotted and restored by FakeDatabase. */
export class MemoryTables implements Transactional {
  rows: Rows = { users: new Map(), sessions: new Map(), links: new Map(), activeFactors: new Set() };

  snapshot(): unknown {
    return structuredClone(this.rows);
  }

  restore(snapshot: unknown): void {
    this.rows = structuredClone(snapshot as Rows);
  }

  get users(): Map<string, User> {
    return this.rows.users;
  }
  get sessions(): Map<string, Session> {
    return this.rows.sessions;
  }
  get links(): Map<string, AccountLink> {
    return this.rows.links;
  }

  /** A user row, defaults filled in: verified, enabled, `password` hashed as FakePasswords hashes. */
  addUser(fields: Partial<User> & { password?: string } = {}): User {
    const { password = 'correct horse battery', ...rest } = fields;
    const at = rest.createdAt ?? 0;
    const user: User = {
      id: uuidv7(),
      email: `user-${this.rows.users.size + 1}@example.test`,
      name: null,
      passwordHash: fakeHash(password),
      role: 'user',
      disabledAt: null,
      passwordChangedAt: null,
      createdAt: at,
      updatedAt: at,
      lastLoginAt: null,
      emailVerifiedAt: at,
      passwordResetRequiredAt: null,
      ...rest,
    };
    this.rows.users.set(user.id, user);
    return { ...user };
  }

  /** The session rows of a user, oldest first. */
  sessionsOf(userId: string): Session[] {
    return [...this.rows.sessions.values()].filter((s) => s.userId === userId).sort((a, b) => a.createdAt - b.createdAt || compareIds(a.id, b.id));
  }

  live(userId: string): Session[] {
    return this.sessionsOf(userId).filter((s) => s.revokedAt === null);
  }
}

const copy = <T extends object>(row: T | undefined): T | null => (row ? { ...row } : null);

export class MemoryUsersRepository implements PublicOf<UsersRepository> {
  constructor(private readonly tables: MemoryTables) {}

  async findById(id: string): Promise<User | null> {
    return copy(this.tables.users.get(id));
  }

  async findByEmail(email: string): Promise<User | null> {
    return copy([...this.tables.users.values()].find((u) => u.email === email));
  }

  async insert(user: User): Promise<void> {
    if ([...this.tables.users.values()].some((u) => u.email === user.email || u.id === user.id))
      throw Object.assign(new Error('duplicate users row'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    this.tables.users.set(user.id, { ...user });
  }

  async delete(userId: string): Promise<boolean> {
    return this.tables.users.delete(userId);
  }

  async lock(userId: string): Promise<LockedUser | null> {
    const u = this.tables.users.get(userId);
    return u ? { passwordHash: u.passwordHash, disabledAt: u.disabledAt, passwordResetRequiredAt: u.passwordResetRequiredAt } : null;
  }

  async lockAdmins(): Promise<User[]> {
    return [...this.tables.users.values()].filter((u) => u.role === 'admin').map((u) => ({ ...u }));
  }

  async recordLogin(userId: string, at: number): Promise<void> {
    this.update(userId, { lastLoginAt: at });
  }

  async swapPasswordHash(userId: string, expectedHash: string, passwordHash: string, at: number): Promise<boolean> {
    const u = this.tables.users.get(userId);
    if (!u || u.passwordHash !== expectedHash) return false;
    Object.assign(u, { passwordHash, passwordChangedAt: at, passwordResetRequiredAt: null, updatedAt: at });
    return true;
  }

  async swapEmail(userId: string, expectedEmail: string, email: string, at: number): Promise<boolean> {
    const u = this.tables.users.get(userId);
    if (!u || u.email !== expectedEmail) return false;
    if ([...this.tables.users.values()].some((other) => other.id !== userId && other.email === email))
      throw Object.assign(new Error('duplicate users row'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    Object.assign(u, { email, emailVerifiedAt: at, updatedAt: at });
    return true;
  }

  async requirePasswordReset(userId: string, at: number): Promise<void> {
    this.update(userId, { passwordResetRequiredAt: at, updatedAt: at });
  }

  async setDisabled(userId: string, disabled: boolean, at: number): Promise<boolean> {
    const u = this.tables.users.get(userId);
    if (!u || (u.disabledAt !== null) === disabled) return false;
    Object.assign(u, { disabledAt: disabled ? at : null, updatedAt: at });
    return true;
  }

  async setEmailVerified(userId: string, at: number): Promise<void> {
    const u = this.tables.users.get(userId);
    if (u && u.emailVerifiedAt === null) Object.assign(u, { emailVerifiedAt: at, updatedAt: at });
  }

  async setRole(userId: string, role: Role, at: number): Promise<void> {
    this.update(userId, { role, updatedAt: at });
  }

  private update(userId: string, fields: Partial<User>): void {
    const u = this.tables.users.get(userId);
    if (u) Object.assign(u, fields);
  }
}

export class MemorySessionsRepository implements PublicOf<SessionsRepository> {
  /**
   * Runs once, just before the next rotate's compare-and-swap: a test puts a concurrent
   * writer there (another tab's refresh, a revocation) to make the swap lose its race.
   */
  beforeNextSwap: (() => Promise<void> | void) | null = null;

  constructor(private readonly tables: MemoryTables) {}

  async findForRefresh(id: string): Promise<RefreshRow | null> {
    const s = this.tables.sessions.get(id);
    const u = s && this.tables.users.get(s.userId);
    if (!s || !u) return null;
    return {
      id: s.id,
      userId: s.userId,
      deviceId: s.deviceId,
      generation: s.generation,
      rotatedAt: s.rotatedAt,
      salt: s.salt,
      revokedAt: s.revokedAt,
      expiresAt: s.expiresAt,
      idleExpiresAt: s.idleExpiresAt,
      role: u.role,
      dpopJkt: s.dpopJkt,
      userDisabled: u.disabledAt !== null,
      assurance: { acr: isAcr(s.acr) ? s.acr : 'aal1', amr: parseAmr(s.amr), authTime: s.authTime ?? s.createdAt },
      assuranceGeneration: s.assuranceGeneration,
      mfaEnrollmentRequired: s.mfaEnrollmentRequired,
      hasActiveFactor: this.tables.rows.activeFactors.has(s.userId),
    };
  }

  async raise(
    id: string,
    fromGeneration: number,
    toGeneration: number,
    assurance: Assurance,
    now: number,
    idleExpiresAt: number,
    endsEnrollment: boolean,
  ): Promise<boolean> {
    const s = this.tables.sessions.get(id);
    if (!s || s.generation !== fromGeneration || s.revokedAt !== null) return false;
    if (toGeneration !== fromGeneration) s.rotatedAt = now;
    Object.assign(s, {
      generation: toGeneration,
      lastUsedAt: now,
      idleExpiresAt,
      acr: assurance.acr,
      amr: assurance.amr.join(','),
      authTime: assurance.authTime,
      assuranceGeneration: toGeneration,
    });
    if (endsEnrollment) s.mfaEnrollmentRequired = false;
    return true;
  }

  async requireEnrollment(userId: string): Promise<void> {
    for (const s of this.tables.live(userId)) this.tables.sessions.get(s.id)!.mfaEnrollmentRequired = true;
  }

  async rotate(id: string, fromGeneration: number, now: number, idleExpiresAt: number): Promise<boolean> {
    const interleave = this.beforeNextSwap;
    this.beforeNextSwap = null;
    await interleave?.();
    const s = this.tables.sessions.get(id);
    if (!s || s.generation !== fromGeneration || s.revokedAt !== null) return false;
    Object.assign(s, { generation: fromGeneration + 1, rotatedAt: now, lastUsedAt: now, idleExpiresAt });
    return true;
  }

  async insert(session: Session): Promise<void> {
    if (this.tables.sessions.has(session.id)) throw new Error('duplicate sessions row');
    this.tables.sessions.set(session.id, { ...session });
  }

  async deviceHistory(userId: string, deviceId: string, now: number): Promise<DeviceHistory> {
    const ofDevice = this.tables.sessionsOf(userId).filter((s) => s.deviceId === deviceId);
    const live = ofDevice.filter((s) => s.revokedAt === null && s.expiresAt > now && s.idleExpiresAt > now).at(-1);
    return {
      seen: ofDevice.length > 0 && !ofDevice.some((s) => s.revokedReason === 'reported_by_user'),
      live: live ? { id: live.id, dpopJkt: live.dpopJkt } : null,
    };
  }

  async unrevokedIds(scope: SessionScope): Promise<Array<{ id: string; userId: string }>> {
    return [...this.tables.sessions.values()]
      .filter(
        (s) =>
          s.revokedAt === null &&
          (scope.userId === undefined || s.userId === scope.userId) &&
          (scope.sessionId === undefined || s.id === scope.sessionId) &&
          (scope.excludeId === undefined || s.id !== scope.excludeId) &&
          (scope.deviceId === undefined || s.deviceId === scope.deviceId) &&
          (scope.createdSince === undefined || s.createdAt >= scope.createdSince),
      )
      .map((s) => ({ id: s.id, userId: s.userId }));
  }

  async leastRecentlyUsedActive(userId: string, now: number, keep: number): Promise<Array<{ id: string; userId: string }>> {
    return this.active(userId, now)
      .slice(keep)
      .map((s) => ({ id: s.id, userId: s.userId }));
  }

  async markRevoked(ids: string[], reason: RevokeReason, now: number): Promise<number> {
    let changed = 0;
    for (const id of ids) {
      const s = this.tables.sessions.get(id);
      if (!s || s.revokedAt !== null) continue;
      Object.assign(s, { revokedAt: now, revokedReason: reason });
      changed++;
    }
    return changed;
  }

  async listForUser(userId: string, opts: { includeRevoked: boolean; now: number }): Promise<Session[]> {
    const rows = opts.includeRevoked ? this.byUse(this.tables.sessionsOf(userId)) : this.active(userId, opts.now);
    return rows.map((s) => ({ ...s }));
  }

  async pageForUser(userId: string, after: { createdAt: number; id: string } | null, limit: number): Promise<Session[]> {
    const rows = this.tables.sessionsOf(userId).filter((s) => !after || s.createdAt > after.createdAt || (s.createdAt === after.createdAt && s.id > after.id));
    return rows.slice(0, limit).map((s) => ({ ...s }));
  }

  async findById(id: string): Promise<Session | null> {
    return copy(this.tables.sessions.get(id));
  }

  async deviceOf(userId: string, sessionId: string): Promise<string | null> {
    const s = this.tables.sessions.get(sessionId);
    return s && s.userId === userId ? s.deviceId : null;
  }

  async createdAtOf(userId: string, sessionId: string): Promise<number | null> {
    const s = this.tables.sessions.get(sessionId);
    return s && s.userId === userId ? s.createdAt : null;
  }

  async deleteForUser(userId: string): Promise<number> {
    const mine = [...this.tables.sessions.values()].filter((s) => s.userId === userId);
    for (const s of mine) this.tables.sessions.delete(s.id);
    return mine.length;
  }

  async deleteStale(before: number, batch: number): Promise<number> {
    const stale = [...this.tables.sessions.values()]
      .filter((s) => (s.revokedAt !== null && s.revokedAt < before) || s.expiresAt < before || s.idleExpiresAt < before)
      .slice(0, batch);
    for (const s of stale) this.tables.sessions.delete(s.id);
    return stale.length;
  }

  /** Live sessions, most recently used first (ORDER BY last_used_at DESC, id DESC). */
  private active(userId: string, now: number): Session[] {
    return this.byUse(this.tables.sessionsOf(userId).filter((s) => s.revokedAt === null && s.expiresAt > now && s.idleExpiresAt > now));
  }

  private byUse(rows: Session[]): Session[] {
    return [...rows].sort((a, b) => b.lastUsedAt - a.lastUsedAt || compareIds(b.id, a.id));
  }
}

export class MemoryAccountLinksRepository implements PublicOf<AccountLinksRepository> {
  constructor(private readonly tables: MemoryTables) {}

  async insert(link: AccountLink): Promise<void> {
    this.tables.links.set(link.id, { ...link });
  }

  async findById(id: string): Promise<AccountLink | null> {
    return copy(this.tables.links.get(id));
  }

  async supersede(userId: string, purpose: LinkPurpose, at: number, _db?: unknown, createdAfter?: number): Promise<void> {
    for (const l of this.tables.links.values()) {
      if (
        l.userId === userId &&
        l.purpose === purpose &&
        l.usedAt === null &&
        l.supersededAt === null &&
        (createdAfter === undefined || l.createdAt > createdAfter)
      )
        l.supersededAt = at;
    }
  }

  async listForUser(userId: string): Promise<AccountLink[]> {
    return [...this.tables.links.values()]
      .filter((l) => l.userId === userId)
      .sort((a, b) => a.createdAt - b.createdAt || compareIds(a.id, b.id))
      .map((l) => ({ ...l }));
  }

  async use(id: string, purpose: LinkPurpose, at: number): Promise<boolean> {
    const l = this.tables.links.get(id);
    if (!l || l.purpose !== purpose || l.usedAt !== null || l.supersededAt !== null || l.expiresAt <= at) return false;
    l.usedAt = at;
    return true;
  }

  async countSince(userId: string, purpose: LinkPurpose, since: number): Promise<number> {
    return [...this.tables.links.values()].filter((l) => l.userId === userId && l.purpose === purpose && l.createdAt >= since).length;
  }

  async deleteForUser(userId: string): Promise<number> {
    const mine = [...this.tables.links.values()].filter((l) => l.userId === userId);
    for (const l of mine) this.tables.links.delete(l.id);
    return mine.length;
  }

  async deleteExpired(before: number, batch: number): Promise<number> {
    const expired = [...this.tables.links.values()].filter((l) => l.expiresAt < before).slice(0, batch);
    for (const l of expired) this.tables.links.delete(l.id);
    return expired.length;
  }
}

/** How FakePasswords "hashes": readable in a failure, and never a real argon2 hash. */
export function fakeHash(password: string): string {
  return `fake-argon2:${password}`;
}

/**
 * PasswordService without argon2 (milliseconds, not 50 ms a hash), keeping what the callers
 * rely on: `admit` (the login lockout's count) runs before any comparison and can stop it;
 * no stored hash (an unknown e-mail) still costs a comparison, against a dummy, and fails.
 * `compared` lists the hashes actually compared against, the dummy as 'dummy'.
 */
export class FakePasswords implements PublicOf<PasswordService> {
  readonly compared: string[] = [];
  readonly hash = mock.fn(async (password: string): Promise<string> => fakeHash(password));
  readonly verify = mock.fn(
    async (storedHash: string | null | undefined, password: string, admit: () => Promise<void> = async () => undefined): Promise<boolean> => {
      await admit();
      this.compared.push(storedHash ?? 'dummy');
      return storedHash != null && storedHash === fakeHash(password);
    },
  );

  async onModuleInit(): Promise<void> {}
}

/** The rate-limit counters of one instance (no Redis), on the test's clock. */
export function memoryCounterStore(clock: Clock): PublicOf<CounterStore> {
  const counters = new MemoryCounters(() => clock.now());
  return {
    hit: async (key, windowMs) => counters.hit(key, windowMs),
    reset: async (key) => counters.reset(key),
    onApplicationShutdown: () => undefined,
  };
}

/** One MemoryTables behind the in-memory repositories, and the FakeDatabase that rolls it back. */
export function memoryStore(): { tables: MemoryTables; database: FakeDatabase; repositories: Provider[]; sessions: MemorySessionsRepository } {
  const tables = new MemoryTables();
  const sessions = new MemorySessionsRepository(tables);
  return {
    tables,
    database: new FakeDatabase([tables]),
    sessions,
    repositories: [
      { provide: UsersRepository, useValue: new MemoryUsersRepository(tables) },
      { provide: SessionsRepository, useValue: sessions },
      { provide: AccountLinksRepository, useValue: new MemoryAccountLinksRepository(tables) },
    ],
  };
}
