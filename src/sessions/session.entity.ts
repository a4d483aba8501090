import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

export const REVOKE_REASONS = [
  'user_logout',
  'user_revoked',
  'admin_revoked',
  'password_changed',
  'refresh_token_reuse',
  'user_disabled',
  'device_relogin',
  'session_limit',
  'password_reset',
  'reported_by_user',
  'role_changed',
  'mfa_enabled',
  'mfa_reset',
  // Account lifecycle (v3).
  'account_deleted',
  'email_change_reverted',
] as const;
export type RevokeReason = (typeof REVOKE_REASONS)[number];

/**
 * One row per signed-in device. The refresh chain needs only `generation`, `rotated_at`,
 * `salt` and the key id: the row's size does not grow with rotations, and no token is stored.
 */
@Entity('sessions')
export class Session {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'device_id', type: 'varchar', length: 64 })
  deviceId: string;

  @Column({ name: 'device_name', type: 'varchar', length: 100, nullable: true })
  deviceName: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: 512, nullable: true })
  userAgent: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  @Column({ name: 'last_used_at', type: 'bigint', transformer: epochMs })
  lastUsedAt: number;

  @Column({ name: 'expires_at', type: 'bigint', transformer: epochMs })
  expiresAt: number;

  @Column({ name: 'idle_expires_at', type: 'bigint', transformer: epochMs })
  idleExpiresAt: number;

  @Column({ type: 'int' })
  generation: number;

  @Column({ name: 'rotated_at', type: 'bigint', nullable: true, transformer: epochMs })
  rotatedAt: number | null;

  /** Per-session random salt mixed into every link's MAC. */
  @Column({ type: 'varchar', length: 64 })
  salt: string;

  @Column({ name: 'revoked_at', type: 'bigint', nullable: true, transformer: epochMs })
  revokedAt: number | null;

  @Column({ name: 'revoked_reason', type: 'varchar', length: 32, nullable: true })
  revokedReason: RevokeReason | null;

  /** The thumbprint of the DPoP key the session is bound to (RFC 9449), or null when unbound. */
  @Column({ name: 'dpop_jkt', type: 'varchar', length: 43, nullable: true })
  dpopJkt: string | null;

  /** `aal1` or `aal2` (sessions/assurance.ts). */
  @Column({ type: 'varchar', length: 8, default: 'aal1' })
  acr: string;

  /** RFC 8176 methods, comma-separated. */
  @Column({ type: 'varchar', length: 64, default: 'pwd' })
  amr: string;

  /** When the session's user last really authenticated (epoch ms). */
  @Column({ name: 'auth_time', type: 'bigint', nullable: true, transformer: epochMs })
  authTime: number | null;

  /** The chain generation at which the assurance was last raised: an older link never mints it. */
  @Column({ name: 'assurance_generation', type: 'int', default: 0 })
  assuranceGeneration: number;

  /** MFA_REQUIRED covers the user and they have no factor yet: only enrolment and a few routes work. */
  @Column({ name: 'mfa_enrollment_required', type: 'boolean', default: false })
  mfaEnrollmentRequired: boolean;
}
