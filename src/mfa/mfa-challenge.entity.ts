import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

/**
 * A login between its correct password and its second factor (the `mfaToken`). Holds no token:
 * the token is `<id>.<secret>` and only an HMAC of it is kept. It remembers what the login asked
 * for, so the session opened at the end is the one the login would have opened.
 */
@Entity('mfa_challenges')
export class MfaChallenge {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'token_mac', type: 'varchar', length: 64 })
  tokenMac: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  @Column({ name: 'expires_at', type: 'bigint', transformer: epochMs })
  expiresAt: number;

  @Column({ name: 'used_at', type: 'bigint', nullable: true, transformer: epochMs })
  usedAt: number | null;

  @Column({ type: 'int', default: 0 })
  failures: number;

  @Column({ name: 'device_id', type: 'varchar', length: 64, nullable: true })
  deviceId: string | null;

  @Column({ name: 'device_name', type: 'varchar', length: 100, nullable: true })
  deviceName: string | null;

  @Column({ name: 'use_cookie', type: 'boolean', default: false })
  useCookie: boolean;

  @Column({ name: 'dpop_jkt', type: 'varchar', length: 43, nullable: true })
  dpopJkt: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: 512, nullable: true })
  userAgent: string | null;

  /** The WebAuthn request options' challenge (base64url) offered with this login, for a passkey as the second factor. */
  @Column({ name: 'webauthn_challenge', type: 'text', nullable: true })
  webauthnChallenge: string | null;
}
