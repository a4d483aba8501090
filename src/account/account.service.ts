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
 * Account recovery: forgotten passwords, resets, e-mail verification and "this wasn't me".
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
    const intent = { kind: 'password_reset' as const, userId: null, data: { email: normalizeEmail(email), origin: 'forgot', ip: client.ip, userAgent: client.userAgent }, detached: true };
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
    await this.database.transaction((db) => this.mail.enqueue({ kind: 'email_verification', userId: user.id, data: { origin: 'user', ip: client.ip, userAgent: client.userAgent } }, db));
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
      await this.audit.record({ type: 'session_reported', userId: link.userId, sessionId: link.sessionId, ...actor, details: { revokedSessions: revoked.length, removedFactors } }, db);
      await this.mail.enqueue({ kind: 'password_reset', userId: link.userId, data: { origin: 'report', ip: client.ip, userAgent: client.userAgent } }, db);
    });
  }
}
