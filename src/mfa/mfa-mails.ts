import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { MailSender, Preparation, PrepareContext, PreparedMail } from '../mail/mail-sender';
import { UsersService } from '../users/users.service';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The product's name: MAIL_FROM's display name, else latchkey (as the account mails say it). */
function productOf(mailFrom: string): string {
  return /^\s*"?([^"<]+?)"?\s*</.exec(mailFrom)?.[1]?.trim() || 'latchkey';
}

/** A notice: plain text and the same paragraphs as simple HTML; no link, nothing to click. */
function notice(to: string, subject: string, product: string, paragraphs: string[]): PreparedMail {
  const text = [...paragraphs, `— ${product}`].join('\n\n') + '\n';
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(subject)}</title></head>` +
    `<body style="font-family:system-ui,sans-serif;color:#0f172a;font-size:15px;line-height:1.5">` +
    paragraphs.map((p) => `<p>${escape(p).replace(/\n/g, '<br>')}</p>`).join('') +
    `<p style="color:#64748b;font-size:13px">— ${escape(product)}</p></body></html>`;
  return { to, subject, text, html, links: [] };
}

/**
 * What the second-factor notices say. Each tells the user what changed on their account, so a
 * change they did not make is noticed: a factor added or removed, a recovery code used, a reset.
 */
@Injectable()
export class MfaMails implements OnModuleInit {
  private readonly product: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly sender: MailSender,
    private readonly users: UsersService,
  ) {
    this.product = productOf(config.mailFrom);
  }

  onModuleInit(): void {
    const unexpected = 'If this was not you, reset your password at once and ask your administrator to check your account.';
    this.register('mfa_enabled', (to) => [
      `Two-step sign-in is now on for your ${this.product} account (${to}).`,
      'Every other device was signed out; signing in again asks for your second factor. Keep your recovery codes somewhere safe.',
      unexpected,
    ]);
    this.register('mfa_disabled', (to) => [
      `The last second factor of your ${this.product} account (${to}) was removed: signing in needs only your password now.`,
      unexpected,
    ]);
    this.register('recovery_code_used', (to, data) => [
      `A recovery code of your ${this.product} account (${to}) was just used to sign in or confirm your identity.`,
      `IP address: ${typeof data.ip === 'string' ? data.ip : 'unknown'}\nTime: ${typeof data.at === 'number' ? new Date(data.at).toUTCString() : 'unknown'}`,
      'Each code works once. If you are running out, make a new set in your account settings.',
      unexpected,
    ]);
    this.register('mfa_reset', (to) => [
      `An administrator removed every second factor of your ${this.product} account (${to}) and signed out all its devices.`,
      'You can sign in with your password and set up a new second factor.',
      unexpected,
    ]);
  }

  private register(
    kind: 'mfa_enabled' | 'mfa_disabled' | 'recovery_code_used' | 'mfa_reset',
    say: (to: string, data: Record<string, unknown>) => string[],
  ): void {
    const subjects = {
      mfa_enabled: 'Two-step sign-in is on',
      mfa_disabled: 'Two-step sign-in is off',
      recovery_code_used: 'A recovery code was used',
      mfa_reset: 'Your second factors were reset',
    };
    this.sender.register(kind, async (c: PrepareContext): Promise<Preparation> => {
      const user = c.message.userId ? await this.users.findById(c.message.userId) : null;
      if (!user) return { drop: 'no such account' };
      return notice(user.email, `${subjects[kind]} for your ${this.product} account`, this.product, say(user.email, c.data));
    });
  }
}
