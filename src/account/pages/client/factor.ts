/** A second factor as GET /me/factors and the admin API show it (no secret); the dashboard reads the same shape. */
export interface Factor {
  id: string;
  type: 'totp' | 'passkey';
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  backedUp?: boolean;
  /** false: an authenticator app added but never confirmed with a code. */
  active?: boolean;
  /** Too many wrong codes in a row: only an administrator's reset unlocks it. */
  locked?: boolean;
}
