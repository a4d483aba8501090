import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { Actor, ClientContext } from '../common/client-context';
import { DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { LoginLockoutService } from '../rate-limit/login-lockout.service';
import { MailOutbox } from '../mail/mail-outbox';
import { UsersService } from '../users/users.service';
import { SessionsService } from '../sessions/sessions.service';
import { FactorsService } from '../mfa/factors.service';
import { AuthService, RECENT_AUTHENTICATION } from '../auth/auth.service';
import type { Principal } from '../auth/jwt.strategy';
import { AccountLinks } from './account-links';

const RESET_OWED_BEFORE_DELETION = () =>
  ApiError.forbidden(
    'This account must set a new password through the link in the e-mail it was sent (or a new one: "forgot password") before it can be deleted.',
  );

/** Who deleted the account: the user themselves, an administrator (API), or the operator (CLI). */
export type DeletedBy = 'user' | 'admin' | 'operator';

/**
 * Account deletion (API.md, "Account lifecycle"): one transaction, then after-commit effects.
 *
 * Under the user's row lock (the lock every login and password change takes, so a login racing
 * the deletion either committed before it, and its session is among those revoked here, or finds
 * no user after it): every session revoked through the ordinary path (`account_deleted`, so this
 * instance, every other instance, the revocation feed and every verifier refuse the tokens once
 * it commits) and its row deleted; factors, recovery codes, trusted devices, pending second
 * steps and ceremonies, links and the user's mails deleted; the user's audit events (about them,
 * or caused by them) stripped of e-mail, IP and user agent; the users row deleted (never the last
 * administrator), which frees the address; the `account_deleted` event and the confirmation mail
 * (to the address, carried by the message, since no account holds it any more). A crash before
 * COMMIT leaves the whole account; after it, none of it. The after-commit effects (announcing the
 * revocations, waking the mail sender) are registered by the calls that warrant them.
 */
@Injectable()
export class AccountDeletion {
  private readonly logger = new Logger(AccountDeletion.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly factors: FactorsService,
    private readonly auth: AuthService,
    private readonly links: AccountLinks,
    private readonly mail: MailOutbox,
    private readonly audit: AuditService,
    private readonly lockout: LoginLockoutService,
  ) {}

  /**
   * DELETE /me, under the step-up rule of a password change (AuthService.reauthenticate): a live
   * session, `aal2` once the account has a second factor, then proof of presence: the password,
   * or, without one, an authentication within REAUTH_MAX_AGE (a step-up just made). A report
   * ("this wasn't me") that still owes a reset blocks it, as it blocks a password change: whoever
   * signed in knows the password.
   */
  async deleteOwn(principal: Principal, password: string | undefined, client: ClientContext): Promise<void> {
    const { user } = await this.auth.reauthenticate(principal, password ?? RECENT_AUTHENTICATION, client, RESET_OWED_BEFORE_DELETION);
    if (!(await this.erase(user.id, { actorId: user.id, client }, 'user'))) throw ApiError.invalidToken(true);
  }

  /** DELETE /admin/users/:id and `cli users:delete`: 404 for no such user, 403 for the last administrator. */
  async deleteByAdmin(userId: string, actor: Actor, by: Exclude<DeletedBy, 'user'>): Promise<void> {
    if (!(await this.erase(userId, actor, by))) throw ApiError.notFound('No such user.');
  }

  /** The deletion itself; false when there was no such user (anymore). */
  private async erase(userId: string, actor: Actor, by: DeletedBy): Promise<boolean> {
    const deleted = await this.database.transaction(async (db) => {
      if (!(await this.users.lock(userId, db))) return null;
      // The revocations' own events carry no client: for a self-deletion it would be the user's.
      const quiet = { actorId: actor.actorId, client: null };
      const revoked = await this.sessions.eraseUser(userId, quiet, db);
      await this.factors.eraseUser(userId, db);
      await this.links.deleteForUser(userId, db);
      const user = await this.users.remove(userId, db);
      if (!user) return null;
      await this.mail.forgetUser(userId, user.email, db);
      await this.audit.erasePersonalData(userId, db);
      // After the erasure: an administrator's own address and browser are theirs to keep in the log.
      await this.audit.record(
        {
          type: 'account_deleted',
          userId,
          actorId: actor.actorId,
          client: by === 'user' ? null : actor.client,
          details: { by, revokedSessions: revoked.length },
        },
        db,
      );
      await this.mail.enqueue({ kind: 'account_deleted', userId: null, data: { email: user.email, by } }, db);
      await this.pauseForCrashTest();
      return user;
    });
    if (!deleted) return false;
    // The address may sign up again: it starts with no failed attempts counted against it.
    await this.lockout.clear(deleted.email).catch(() => undefined);
    return true;
  }

  /** TEST_PAUSE_AT=account_deletion: stop inside the transaction, before COMMIT, for a test to SIGKILL the process there. */
  private async pauseForCrashTest(): Promise<void> {
    if (this.config.testPauseAt !== 'account_deletion') return;
    this.logger.warn('TEST_PAUSE_AT=account_deletion: paused inside the deletion transaction');
    process.stderr.write('latchkey: paused at account_deletion\n');
    await new Promise(() => undefined);
  }
}
