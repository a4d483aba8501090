import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

export const FACTOR_TYPES = ['totp', 'passkey'] as const;
export type FactorType = (typeof FACTOR_TYPES)[number];

/**
 * A second factor of one user: a TOTP authenticator or a passkey. A TOTP factor is pending
 * (`activatedAt` null) until a first code proves the user holds it; a passkey is active once
 * registered. `consecutiveFailures` past MFA_MAX_FAILURES sets `lockedAt`: only an admin reset
 * (removing the factor) ends it.
 */
@Entity('mfa_factors')
export class MfaFactor {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  type: FactorType;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  @Column({ name: 'last_used_at', type: 'bigint', nullable: true, transformer: epochMs })
  lastUsedAt: number | null;

  @Column({ name: 'activated_at', type: 'bigint', nullable: true, transformer: epochMs })
  activatedAt: number | null;

  /** The TOTP secret, sealed (common/sealed.ts) with the factor id as additional data. */
  @Column({ name: 'totp_secret', type: 'text', nullable: true })
  totpSecret: string | null;

  /** The last 30-second step a code was accepted for: no code of that step or before works again. */
  @Column({ name: 'totp_last_step', type: 'bigint', nullable: true, transformer: epochMs })
  totpLastStep: number | null;

  /** Passkey: the credential id, base64url. */
  @Column({ name: 'credential_id', type: 'varchar', length: 255, nullable: true })
  credentialId: string | null;

  /** Passkey: the COSE public key, base64url. */
  @Column({ name: 'public_key', type: 'text', nullable: true })
  publicKey: string | null;

  @Column({ name: 'sign_count', type: 'bigint', nullable: true, transformer: epochMs })
  signCount: number | null;

  /** Passkey: the authenticator's transports, comma-separated (usb, nfc, ble, internal, hybrid). */
  @Column({ type: 'varchar', length: 255, nullable: true })
  transports: string | null;

  @Column({ name: 'backup_eligible', type: 'boolean', nullable: true })
  backupEligible: boolean | null;

  @Column({ name: 'backed_up', type: 'boolean', nullable: true })
  backedUp: boolean | null;

  @Column({ type: 'varchar', length: 36, nullable: true })
  aaguid: string | null;

  @Column({ name: 'consecutive_failures', type: 'int', default: 0 })
  consecutiveFailures: number;

  @Column({ name: 'locked_at', type: 'bigint', nullable: true, transformer: epochMs })
  lockedAt: number | null;
}
