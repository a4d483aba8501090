export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export type MfaRequired = 'off' | 'admin' | 'all';

/** MFA_REQUIRED: whether a user of this role must have a second factor. */
export function mfaRequiredFor(setting: MfaRequired, role: Role): boolean {
  return setting === 'all' || (setting === 'admin' && role === 'admin');
}
