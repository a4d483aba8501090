import type { PreparedMail } from '../mail/mail-sender';
import { oneLine } from '../common/user-agent';

/** What every template knows: whose product this is and where its pages live. */
export interface Brand {
  product: string;
  appUrl: string;
}

/** The display name of MAIL_FROM ("Acme <no-reply@acme.test>" → "Acme"), else latchkey. */
export function brandOf(mailFrom: string, appUrl: string): Brand {
  const name = /^\s*"?([^"<]+?)"?\s*</.exec(mailFrom)?.[1]?.trim();
  return { product: name || 'latchkey', appUrl };
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Plain text and a small, table-free HTML part with the same words and the link as a button. */
function compose(
  to: string,
  subject: string,
  brand: Brand,
  paragraphs: string[],
  action: { label: string; url: string } | null,
  after: string[] = [],
): PreparedMail {
  const text = [...paragraphs, ...(action ? [`${action.label}:\n${action.url}`] : []), ...after, `— ${brand.product}`].join('\n\n') + '\n';
  const p = (t: string) => `<p style="margin:0 0 16px">${escape(t).replace(/\n/g, '<br>')}</p>`;
  const button = action
    ? `<p style="margin:24px 0"><a href="${escape(action.url)}" style="background:#1d4ed8;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;display:inline-block">${escape(action.label)}</a></p>` +
      `<p style="margin:0 0 16px;font-size:13px;color:#475569">If the button does not work, open this address:<br><a href="${escape(action.url)}" style="color:#1d4ed8;word-break:break-all">${escape(action.url)}</a></p>`
    : '';
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(subject)}</title></head>` +
    `<body style="margin:0;padding:24px;background:#f8fafc;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#0f172a;font-size:15px;line-height:1.5">` +
    `<div style="max-width:560px;margin:0 auto;background:#ffffff;border:1px solid #e2e8f0;border-radius:8px;padding:24px">` +
    paragraphs.map(p).join('') +
    button +
    after.map(p).join('') +
    `<p style="margin:24px 0 0;color:#64748b;font-size:13px">— ${escape(brand.product)}</p></div></body></html>`;
  return { to, subject, text, html, links: action ? [action.url] : [] };
}

const at = (ms: number) => new Date(ms).toUTCString();
const minutes = (seconds: number) => (seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`);

export function passwordResetMail(brand: Brand, to: string, token: string, ttlSeconds: number): PreparedMail {
  return compose(
    to,
    `Reset your ${brand.product} password`,
    brand,
    [
      `Someone, hopefully you, asked to reset the password of your ${brand.product} account (${to}).`,
      `The link works once, for ${minutes(ttlSeconds)}. Setting a new password signs out every device signed in to your account.`,
    ],
    { label: 'Choose a new password', url: `${brand.appUrl}/account/reset-password#token=${token}` },
    ['If you did not ask for this, you can ignore this message: your password stays as it is.'],
  );
}

export function verificationMail(brand: Brand, to: string, token: string, ttlSeconds: number): PreparedMail {
  return compose(
    to,
    `Confirm your e-mail address for ${brand.product}`,
    brand,
    [
      `Please confirm that ${to} is your address, so that ${brand.product} can reach you, for example to help you back into your account.`,
      `The link works for ${minutes(ttlSeconds)}.`,
    ],
    { label: 'Confirm my address', url: `${brand.appUrl}/account/verify-email#token=${token}` },
    ['If you did not create an account, you can ignore this message.'],
  );
}

export interface NewDevice {
  device: string;
  ip: string | null;
  at: number;
  /** A sign-in under the id of a device that was signed in, replacing its session, without showing it held that session. */
  takeover?: boolean;
}

export function newDeviceMail(brand: Brand, to: string, token: string, alert: NewDevice): PreparedMail {
  // What the client sent (its device name, its user agent) cannot add a line to the alert, nor reorder one.
  const device = { ...alert, device: oneLine(alert.device), ip: alert.ip === null ? null : oneLine(alert.ip) };
  return compose(
    to,
    `A new device signed in to your ${brand.product} account`,
    brand,
    [
      device.takeover
        ? `Your ${brand.product} account (${to}) was just signed in to again as a device that was already signed in, replacing its session:`
        : `Your ${brand.product} account (${to}) was just signed in to from a device it has not seen before:`,
      `Device: ${device.device}\nIP address: ${device.ip ?? 'unknown'}\nTime: ${at(device.at)}`,
      'If this was you, there is nothing to do.',
    ],
    // The page names the device from the fragment too: it never reaches a server, and the page shows it as text.
    { label: "This wasn't me", url: `${brand.appUrl}/account/report#${new URLSearchParams({ token, device: device.device })}` },
    ['That signs the device out at once, with every device signed in since, and asks you to choose a new password.'],
  );
}

export function emailChangeMail(brand: Brand, to: string, token: string, ttlSeconds: number): PreparedMail {
  return compose(
    to,
    `Confirm your new e-mail address for ${brand.product}`,
    brand,
    [
      `Someone, hopefully you, asked to use ${to} as the address of their ${brand.product} account.`,
      `Nothing changes until you confirm. The link works once, for ${minutes(ttlSeconds)}.`,
    ],
    { label: 'Use this address', url: `${brand.appUrl}/account/confirm-email#token=${token}` },
    ['If you did not ask for this, you can ignore this message: no account moves to this address.'],
  );
}

/** The answer to an e-mail change towards an address that already has an account: told only to that address. */
export function emailTakenMail(brand: Brand, to: string): PreparedMail {
  return compose(
    to,
    `Your e-mail address already has a ${brand.product} account`,
    brand,
    [
      `Someone asked to move a ${brand.product} account to ${to}, but this address already has an account of its own, so nothing has changed.`,
      'If that was you, sign in with this address instead. If you have forgotten its password, ask for a new one on the sign-in page.',
    ],
    null,
    ['If you did not ask for this, you can ignore this message.'],
  );
}

export interface EmailChange {
  newEmail: string;
  at: number;
}

export function emailChangedMail(brand: Brand, to: string, token: string, change: EmailChange): PreparedMail {
  return compose(
    to,
    `The e-mail address of your ${brand.product} account was changed`,
    brand,
    [
      `The address of your ${brand.product} account was changed from ${to} to ${oneLine(change.newEmail)} on ${at(change.at)}. Mail about the account now goes there.`,
      'If this was you, there is nothing to do.',
    ],
    { label: "This wasn't me", url: `${brand.appUrl}/account/revert-email#token=${token}` },
    ['That moves the account back to this address, signs out every device, and asks you to choose a new password.'],
  );
}

/** After the account is gone: the address comes from the message, as no account holds it any more. */
export function accountDeletedMail(brand: Brand, to: string, byAdmin: boolean): PreparedMail {
  return compose(
    to,
    `Your ${brand.product} account has been deleted`,
    brand,
    [
      byAdmin ? `An administrator deleted your ${brand.product} account (${to}).` : `Your ${brand.product} account (${to}) has been deleted, as you asked.`,
      'Every device signed in to it has been signed out, and your second factors, trusted devices and pending links are gone. The security log keeps a record that the account existed, without your e-mail address, IP addresses or browsers.',
      `You can create a new account with this address at any time.`,
    ],
    null,
  );
}
