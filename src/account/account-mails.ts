import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { inBatches } from '../common/batches';
import { deviceLabel } from '../common/user-agent';
import { normalizeEmail } from '../common/email';
import { DatabaseService, Db } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { Preparation, PrepareContext, MailSender } from '../mail/mail-sender';
import { UsersService } from '../users/users.service';
import { User } from '../users/user.entity';
import { AccountLink, LinkPurpose } from './account-link.entity';
import { AccountLinks } from './account-links';
import { AccountLinksRepository } from './account-links.repository';
import {
  accountDeletedMail,
  Brand,
  brandOf,
  emailChangedMail,
  emailChangeMail,
  emailTakenMail,
  newDeviceMail,
  passwordResetMail,
  verificationMail,
} from './mail-templates';

/** At most this many reset mails per account per hour from "forgot password", verification mails from any source but registration, and e-mail change mails. */
export const MAILS_PER_HOUR = 3;
export const EMAIL_VERIFICATION_TTL_S = 24 * 3600;
const HOUR_MS = 3_600_000;

/**
 * What each kind of account mail says, decided when it is sent (MailSender asks). The link a
 * mail carries is made here, once, in a transaction that also records its id on the outbox
 * message, so a retry after an SMTP failure sends the very same link; if that link expired in
 * the meantime (a long outage), a fresh one replaces it.
 */
@Injectable()
export class AccountMails implements OnModuleInit {
  private readonly brand: Brand;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly sender: MailSender,
    private readonly links: AccountLinks,
    private readonly linkRows: AccountLinksRepository,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {
    this.brand = brandOf(config.mailFrom, config.appUrl);
  }

  onModuleInit(): void {
    this.sender.register('password_reset', (c) => this.passwordReset(c));
    this.sender.register('email_verification', (c) => this.emailVerification(c));
    this.sender.register('new_device', (c) => this.newDevice(c));
    this.sender.register('email_change', (c) => this.emailChange(c));
    this.sender.register('email_changed', (c) => this.emailChanged(c));
    // The account is gone by now: the message carries the address (erased once it is sent, like all preparer input).
    this.sender.register('account_deleted', async (c) =>
      typeof c.data.email === 'string' ? accountDeletedMail(this.brand, c.data.email, c.data.by === 'admin') : { drop: 'no address' },
    );
  }

  private async passwordReset(c: PrepareContext): Promise<Preparation> {
    const origin = String(c.data.origin ?? 'forgot');
    const user = c.message.userId ? await this.users.findById(c.message.userId) : await this.users.findByEmail(String(c.data.email ?? ''));
    if (!user) return { drop: 'no account with that address' };
    if (user.disabledAt !== null) return { drop: 'account disabled' };
    const link = await this.linkFor(c, user, 'password_reset', async (db, admitted) => {
      // Counted under the user's row lock, so concurrent requests cannot all slip under the limit.
      if (!admitted && origin === 'forgot' && (await this.links.countSince(user.id, 'password_reset', this.clock.now() - HOUR_MS, db)) >= MAILS_PER_HOUR)
        return null;
      const issued = await this.links.issue(
        'password_reset',
        user.id,
        { expiresAt: this.clock.now() + this.config.passwordResetTtl * 1000, supersede: true },
        db,
      );
      await this.audit.record(
        {
          type: 'password_reset_requested',
          userId: user.id,
          actorId: (c.data.actorId as string | undefined) ?? null,
          client: clientOf(c.data),
          details: { origin },
        },
        db,
      );
      return issued;
    });
    if ('drop' in link) return link;
    return passwordResetMail(this.brand, user.email, this.links.tokenFor(link), this.config.passwordResetTtl);
  }

  private async emailVerification(c: PrepareContext): Promise<Preparation> {
    const user = c.message.userId ? await this.users.findById(c.message.userId) : null;
    if (!user) return { drop: 'no such account' };
    if (user.emailVerifiedAt !== null) return { drop: 'already verified' };
    const link = await this.linkFor(c, user, 'email_verification', async (db, admitted) => {
      if (
        !admitted &&
        c.data.origin !== 'registration' &&
        (await this.links.countSince(user.id, 'email_verification', this.clock.now() - HOUR_MS, db)) >= MAILS_PER_HOUR
      )
        return null;
      return this.links.issue('email_verification', user.id, { expiresAt: this.clock.now() + EMAIL_VERIFICATION_TTL_S * 1000, supersede: false }, db);
    });
    if ('drop' in link) return link;
    return verificationMail(this.brand, user.email, this.links.tokenFor(link), EMAIL_VERIFICATION_TTL_S);
  }

  private async newDevice(c: PrepareContext): Promise<Preparation> {
    const user = c.message.userId ? await this.users.findById(c.message.userId) : null;
    if (!user) return { drop: 'no such account' };
    if (user.disabledAt !== null) return { drop: 'account disabled' };
    const at = Number(c.data.at ?? c.message.createdAt);
    const link = await this.linkFor(c, user, 'session_report', (db) =>
      // "This wasn't me" works for as long as the session it is about could live.
      this.links.issue(
        'session_report',
        user.id,
        { expiresAt: at + this.config.refreshTokenTtl * 1000, sessionId: String(c.data.sessionId), supersede: false },
        db,
      ),
    );
    if ('drop' in link) return link;
    const device = deviceLabel((c.data.deviceName as string | null) ?? null, (c.data.userAgent as string | null) ?? null);
    return newDeviceMail(this.brand, user.email, this.links.tokenFor(link), {
      device,
      ip: (c.data.ip as string | null) ?? null,
      at,
      takeover: c.data.takeover === true,
    });
  }

  /**
   * POST /me/email, to the address asked for: the confirmation link, or, when that address
   * already has an account, word of that instead (told only to that address, and decided here,
   * after the request was answered, so the answer and its timing cannot tell). The link is made
   * either way (never mailed in the second case: its token goes nowhere), so both count alike
   * against the hourly limit and either supersedes an earlier request.
   */
  private async emailChange(c: PrepareContext): Promise<Preparation> {
    const user = c.message.userId ? await this.users.findById(c.message.userId) : null;
    if (!user) return { drop: 'no such account' };
    if (user.disabledAt !== null) return { drop: 'account disabled' };
    const to = normalizeEmail(String(c.data.newEmail ?? ''));
    if (to === user.email) return { drop: 'already the address of the account' };
    const taken = (await this.users.findByEmail(to)) !== null;
    const link = await this.linkFor(c, user, 'email_change', async (db, admitted) => {
      if (!admitted && (await this.links.countSince(user.id, 'email_change', this.clock.now() - HOUR_MS, db)) >= MAILS_PER_HOUR) return null;
      // PASSWORD_RESET_TTL: like a reset link, this one hands the account's recovery to a mailbox.
      const expiresAt = this.clock.now() + this.config.passwordResetTtl * 1000;
      return this.links.issue(
        'email_change',
        user.id,
        { expiresAt, email: to, sessionId: (c.data.sessionId as string | undefined) ?? undefined, supersede: true },
        db,
      );
    });
    if ('drop' in link) return link;
    return taken ? emailTakenMail(this.brand, to) : emailChangeMail(this.brand, to, this.links.tokenFor(link), this.config.passwordResetTtl);
  }

  /** A confirmed e-mail change, told to the address it left, with the link that reverts it. */
  private async emailChanged(c: PrepareContext): Promise<Preparation> {
    const user = c.message.userId ? await this.users.findById(c.message.userId) : null;
    if (!user) return { drop: 'no such account' };
    const from = normalizeEmail(String(c.data.oldEmail ?? ''));
    const at = Number(c.data.at ?? c.message.createdAt);
    const link = await this.linkFor(c, user, 'email_change_revert', (db) =>
      // As long as "this wasn't me" after a new sign-in: whatever the change let someone open lives at most that long.
      this.links.issue(
        'email_change_revert',
        user.id,
        { expiresAt: at + this.config.refreshTokenTtl * 1000, email: from, sessionId: (c.data.sessionId as string | undefined) ?? undefined, supersede: false },
        db,
      ),
    );
    if ('drop' in link) return link;
    return emailChangedMail(this.brand, from, this.links.tokenFor(link), { newEmail: String(c.data.newEmail ?? user.email), at });
  }

  /**
   * The message's link: the one made on an earlier attempt while it is still usable, else a new
   * one from `make` (null: over the limit), made under the user's row lock together with the
   * record of its id on the message. A link superseded since (the user asked again and a newer
   * mail is on its way) means this mail has nothing left to say. `admitted`: the message already
   * passed the hourly limit on an earlier attempt and only needs a fresh link for an expired one
   * (an SMTP outage longer than the link's lifetime), so it is not counted again.
   */
  private async linkFor(
    c: PrepareContext,
    user: User,
    purpose: LinkPurpose,
    make: (db: Db, admitted: boolean) => Promise<AccountLink | null>,
  ): Promise<AccountLink | { drop: string }> {
    if (c.message.ref) {
      const earlier = await this.links.findById(c.message.ref);
      if (earlier && this.links.isUsable(earlier)) return earlier;
      if (earlier?.supersededAt !== null && earlier?.supersededAt !== undefined) return { drop: 'superseded by a newer link' };
      if (earlier?.usedAt) return { drop: 'link already used' };
    }
    const made = await this.database.transaction(async (db) => {
      await this.users.lock(user.id, db);
      const link = await make(db, c.message.ref !== null);
      if (link) await c.keepRef(link.id, db);
      return link;
    });
    return made ?? { drop: `more than ${MAILS_PER_HOUR} mails in an hour` };
  }

  /** Housekeeping: links that expired more than a day ago. */
  @Cron(CronExpression.EVERY_HOUR)
  housekeeping(): Promise<number> {
    return inBatches((n) => this.linkRows.deleteExpired(this.clock.now() - 86_400_000, n));
  }
}

function clientOf(data: Record<string, unknown>) {
  return { ip: (data.ip as string | null | undefined) ?? null, userAgent: (data.userAgent as string | null | undefined) ?? null };
}
