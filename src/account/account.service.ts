import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import type { Actor, ClientContext } from '../common/client-context';
import { normalizeEmail } from '../common/email';
import { Db, DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { LoginLockoutService } from '../rate-limit/login-lockout.service';
import { MailOutbox } from '../mail/mail-outbox';
import { PasswordService } from '../users/password.service';
import { UsersService } from '../users/users.service';
import { User } from '../users/user.entity';
import { SessionsService } from '../sessions/sessions.service';
import { AuthService } from '../auth/auth.service';
import { FactorsService } from '../mfa/factors.service';
import type { Principal } from '../auth/jwt.strategy';
import { AccountLinks } from './account-links';

/**
 * Account recovery: forgotten passwords, resets, e-mail verification, e-mail change and "this wasn't me".
 * Each operation is a straight list of checks followed by one transaction; a link is redeemed
 * inside the transaction whose effects it authorises, so a failure leaves it usable.
 */
@Injectable()
export class AccountService {
  constructor(
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly links: AccountLinks,
    private readonly mail: MailOutbox,
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly sessions: SessionsService,
    private readonly auth: AuthService,
    private readonly factors: FactorsService,
    private readonly audit: AuditService,
    private readonly lockout: LoginLockoutService,
  ) {}

  /**
   * The same work for every address, known or not: one row in the outbox, and nothing set off.
   * Whether the address belongs to an account, and whether that account may get another mail
   * this hour, is decided when the mail is prepared (AccountMails), which costs more for an
   * account (a link, an audit row, the SMTP send). So the mail is detached: prepared on the
   * sender's own schedule, not at once, where that work would slow this answer or the next.
   */
  async forgotPassword(email: string, client: ClientContext): Promise<void> {
    const intent = {
      kind: 'password_reset' as const,
      userId: null,
      data: { email: normalizeEmail(email), origin: 'forgot', ip: client.ip, userAgent: client.userAgent },
      detached: true,
    };
    await this.database.transaction((db) => this.mail.enqueue(intent, db));
  }

  /** An admin sends the user a reset mail; the token never passes through the admin's hands. */
  async sendPasswordReset(userId: string, admin: Actor): Promise<void> {
    if (!(await this.users.findById(userId))) throw ApiError.notFound('No such user.');
    const data = { origin: 'admin', actorId: admin.actorId, ip: admin.client?.ip ?? null, userAgent: admin.client?.userAgent ?? null };
    await this.database.transaction((db) => this.mail.enqueue({ kind: 'password_reset', userId, data }, db));
  }

  /**
   * A new password from a reset link: every session revoked (password_reset) through the same
   * path as a password change, the address counted as verified (the link proved it), the
   * e-mail's login lockout cleared.
   */
  async resetPassword(token: string, newPassword: string, client: ClientContext): Promise<User> {
    // Junk costs no argon2: the link is checked before the new password is hashed.
    const link = await this.links.usable(token, 'password_reset');
    if (!link) throw ApiError.invalidLink();
    const newHash = await this.passwords.hash(newPassword);
    const user = await this.database.transaction(async (db) => {
      await this.users.lock(link.userId, db);
      const user = await this.users.findById(link.userId, db);
      if (!user) throw ApiError.invalidLink();
      if (user.disabledAt !== null) throw ApiError.accountDisabled();
      // A password changed since the link was made (by the user, who may have seen it misused) ends it.
      if (user.passwordChangedAt !== null && user.passwordChangedAt >= link.createdAt) throw ApiError.invalidLink();
      if (!(await this.links.redeem(token, 'password_reset', db))) throw ApiError.invalidLink();
      const actor = { actorId: user.id, client };
      const now = this.clock.now();
      const revoked = await this.auth.replacePassword(user, newHash, 'password_reset', actor, db, now);
      if (!revoked) throw ApiError.invalidLink();
      if (user.emailVerifiedAt === null) await this.users.setEmailVerified(user.id, now, db);
      await this.links.supersede(user.id, 'password_reset', db);
      await this.audit.record({ type: 'password_reset', userId: user.id, ...actor, details: { revokedSessions: revoked.length } }, db);
      return { ...user, passwordHash: newHash, passwordChangedAt: now, emailVerifiedAt: user.emailVerifiedAt ?? now };
    });
    await this.lockout.clear(user.email);
    return user;
  }

  /** A disabled account's outstanding reset links die with it, so a re-enable does not revive them. */
  cancelPasswordResets(userId: string, db: Db): Promise<void> {
    return this.links.supersede(userId, 'password_reset', db);
  }

  async verifyEmail(token: string, client: ClientContext): Promise<User> {
    return this.database.transaction(async (db) => {
      const link = await this.links.redeem(token, 'email_verification', db);
      if (!link) throw ApiError.invalidLink();
      const user = await this.users.findById(link.userId, db);
      if (!user) throw ApiError.invalidLink();
      const now = this.clock.now();
      if (user.emailVerifiedAt === null) {
        await this.users.setEmailVerified(user.id, now, db);
        await this.audit.record({ type: 'email_verified', userId: user.id, actorId: user.id, client }, db);
      }
      // The address is proved: the other verification links have nothing left to do.
      await this.links.supersede(user.id, 'email_verification', db);
      return { ...user, emailVerifiedAt: user.emailVerifiedAt ?? now };
    });
  }

  /** Another verification mail for the signed-in user; nothing when the address is already verified. */
  async resendVerification(principal: Principal, client: ClientContext): Promise<void> {
    const user = await this.users.findById(principal.userId);
    if (!user) throw ApiError.invalidToken(true);
    if (user.emailVerifiedAt !== null) return;
    await this.database.transaction((db) =>
      this.mail.enqueue({ kind: 'email_verification', userId: user.id, data: { origin: 'user', ip: client.ip, userAgent: client.userAgent } }, db),
    );
  }

  /**
   * POST /me/email: the step-up rule of a password change (AuthService.reauthenticate), then one
   * detached row in the outbox, whatever the address. Whether it already has an account shows
   * only in the mail that address gets (AccountMails.emailChange), prepared later on the
   * sender's schedule, so neither the answer nor its timing tells. Nothing else changes.
   */
  async requestEmailChange(principal: Principal, newEmail: string, password: string, client: ClientContext): Promise<void> {
    const { user, current } = await this.auth.reauthenticate(principal, password, client);
    const to = normalizeEmail(newEmail);
    if (to === user.email) throw ApiError.validation([{ field: 'newEmail', message: 'newEmail is already the address of this account' }]);
    const intent = {
      kind: 'email_change' as const,
      userId: user.id,
      data: { newEmail: to, sessionId: current.id, ip: client.ip, userAgent: client.userAgent },
      detached: true,
    };
    await this.database.transaction((db) => this.mail.enqueue(intent, db));
  }

  /**
   * The link mailed to the new address, in one transaction under the user's row lock: redeemed
   * (of racing confirmations exactly one wins), then the address swapped on the one the account
   * had (a compare-and-swap), counted as verified. The unique index decides at commit whether the
   * address is still free: one registered meanwhile fails the swap with 409 email_taken, told to
   * whoever proved they read that mailbox, and nothing changes. A "this wasn't me" report or a new
   * password since the request ends it (the password that asked may be the stolen one). Links
   * mailed to the old address stop working; it is told, with a link that reverts the change.
   */
  async confirmEmailChange(token: string, client: ClientContext): Promise<User> {
    const link = await this.links.usable(token, 'email_change');
    if (!link || link.email === null) throw ApiError.invalidLink();
    const to = link.email;
    return this.database.transaction(async (db) => {
      await this.users.lock(link.userId, db);
      const user = await this.users.findById(link.userId, db);
      if (!user) throw ApiError.invalidLink();
      if (user.disabledAt !== null) throw ApiError.accountDisabled();
      if (user.passwordResetRequiredAt !== null || (user.passwordChangedAt !== null && user.passwordChangedAt >= link.createdAt)) throw ApiError.invalidLink();
      if (!(await this.links.redeem(token, 'email_change', db))) throw ApiError.invalidLink();
      const now = this.clock.now();
      if (!(await this.users.setEmail(user.id, user.email, to, now, db))) throw ApiError.invalidLink();
      for (const purpose of ['email_change', 'password_reset', 'email_verification'] as const) await this.links.supersede(user.id, purpose, db);
      await this.audit.record(
        { type: 'email_changed', userId: user.id, sessionId: link.sessionId, actorId: user.id, client, details: { stage: 'confirmed' } },
        db,
      );
      await this.mail.enqueue(
        {
          kind: 'email_changed',
          userId: user.id,
          data: { oldEmail: user.email, newEmail: to, at: now, sessionId: link.sessionId, ip: client.ip, userAgent: client.userAgent },
        },
        db,
      );
      return { ...user, email: to, emailVerifiedAt: now, updatedAt: now };
    });
  }

  /**
   * "This wasn't me" from the notice to the old address, in one transaction: the account moves
   * back to that address (when no other account took it meanwhile), every session is revoked
   * (email_change_reverted, through the ordinary path, so the feed and verifiers see it), every
   * factor enrolled since the session that asked for the change is removed, and, as after a
   * report, the password stops signing in until a reset link mailed to the restored address
   * replaces it: whoever changed the address knew the password, and may have changed it since.
   * Links mailed to the address it moved to die; so do the reverts of later changes (not of
   * earlier ones: an intruder reverting their own change cannot take the owner's revert away).
   */
  async revertEmailChange(token: string, client: ClientContext): Promise<{ restored: boolean }> {
    const link = await this.links.usable(token, 'email_change_revert');
    if (!link || link.email === null) throw ApiError.invalidLink();
    const back = link.email;
    // Read before the transaction (SQLite has one connection): its creation time never changes.
    const asker = link.sessionId ? await this.sessions.findById(link.sessionId) : null;
    return this.database.transaction(async (db) => {
      await this.users.lock(link.userId, db);
      const user = await this.users.findById(link.userId, db);
      if (!user) throw ApiError.invalidLink();
      if (!(await this.links.redeem(token, 'email_change_revert', db))) throw ApiError.invalidLink();
      const actor = { actorId: user.id, client };
      const now = this.clock.now();
      const holder = user.email === back ? user : await this.users.findByEmail(back, db);
      const restored = holder === null ? await this.users.setEmail(user.id, user.email, back, now, db) : holder.id === user.id;
      const revoked = await this.sessions.revoke({ userId: user.id }, 'email_change_reverted', actor, db);
      const removedFactors = await this.factors.removeEnrolledSince(user.id, asker?.userId === user.id ? asker.createdAt : 0, actor, db);
      await this.users.requirePasswordReset(user.id, now, db);
      for (const purpose of ['email_change', 'password_reset', 'email_verification'] as const) await this.links.supersede(user.id, purpose, db);
      await this.links.supersede(user.id, 'email_change_revert', db, link.createdAt);
      await this.audit.record(
        { type: 'email_changed', userId: user.id, ...actor, details: { stage: 'reverted', restored, revokedSessions: revoked.length, removedFactors } },
        db,
      );
      // Only to the owner's own address: a reset link to the one the account could not leave would hand it over.
      if (restored)
        await this.mail.enqueue(
          { kind: 'password_reset', userId: user.id, data: { origin: 'email_change_reverted', ip: client.ip, userAgent: client.userAgent } },
          db,
        );
      return { restored };
    });
  }

  /**
   * "This wasn't me" from a new-device alert, in one transaction: the reported sign-in and every
   * session opened since are revoked (reported_by_user), every second factor enrolled since is
   * removed (whoever signed in could have enrolled one, which survives both the revocation and the
   * reset), the password stops signing in until it is replaced (whoever signed in knows it), the
   * report is recorded, and a reset mail goes out.
   */
  async reportSession(token: string, client: ClientContext): Promise<void> {
    await this.database.transaction(async (db) => {
      const link = await this.links.redeem(token, 'session_report', db);
      if (!link || !link.sessionId) throw ApiError.invalidLink();
      const actor = { actorId: link.userId, client };
      // The user's row lock first, as a login takes it: a login racing the report either commits
      // before it (and its session is revoked here) or sees the reset it must make.
      await this.users.lock(link.userId, db);
      const { revoked, since } = await this.sessions.revokeReported(link.userId, link.sessionId, actor, db);
      const removedFactors = await this.factors.removeEnrolledSince(link.userId, since, actor, db);
      await this.users.requirePasswordReset(link.userId, this.clock.now(), db);
      await this.audit.record(
        { type: 'session_reported', userId: link.userId, sessionId: link.sessionId, ...actor, details: { revokedSessions: revoked.length, removedFactors } },
        db,
      );
      await this.mail.enqueue({ kind: 'password_reset', userId: link.userId, data: { origin: 'report', ip: client.ip, userAgent: client.userAgent } }, db);
    });
  }
}
