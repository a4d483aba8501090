import { isEmail } from 'class-validator';

export const EMAIL_MAX = 254;

/**
 * Characters no e-mail address needs and that make two addresses look alike: controls,
 * format characters (zero-width, bidi overrides, BOM), separators, unassigned code points.
 */
const EMAIL_CHARACTERS = /^[^\p{C}\p{Z}]*$/u;

/** E-mail addresses are trimmed and lower-cased before they are stored or looked up. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The one rule for an e-mail address a user can register with, for the API, the
 * configuration (ADMIN_EMAIL) and the CLI alike. Null when acceptable.
 */
export function emailProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  const email = value.trim();
  if (email.length > EMAIL_MAX) return `must be at most ${EMAIL_MAX} characters`;
  if (!EMAIL_CHARACTERS.test(email)) return 'must not contain control, invisible or separator characters';
  if (!isEmail(email, { allow_utf8_local_part: true, require_tld: false, allow_ip_domain: false })) return 'must be an e-mail address';
  return null;
}
