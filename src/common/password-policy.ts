export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/**
 * The policy for a new password, wherever one is set (registration, password change, reset,
 * ADMIN_PASSWORD, the CLI), checked before any hashing so that a huge input cannot buy CPU time.
 */
export function passwordPolicyError(password: unknown): string | null {
  if (typeof password !== 'string') return 'password must be a string';
  if (password.length > PASSWORD_MAX * 2) return `password must be at most ${PASSWORD_MAX} characters`;
  const length = [...password].length;
  if (length < PASSWORD_MIN) return `password must be at least ${PASSWORD_MIN} characters`;
  if (length > PASSWORD_MAX) return `password must be at most ${PASSWORD_MAX} characters`;
  if (password.trim().length === 0) return 'password must not be only white space';
  return null;
}

/**
 * A password presented for checking (login, current password): 1 to PASSWORD_MAX characters.
 * Longer input is refused before argon2 runs.
 */
export function isPresentablePassword(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > PASSWORD_MAX * 2) return false;
  return [...value].length <= PASSWORD_MAX;
}
