import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

/**
 * `email_change`: mailed to the address a user asked to move to, confirms the move to `email`;
 * `email_change_revert`: mailed to the address moved away from ("this wasn't me"), moves back to `email`.
 */
export const LINK_PURPOSES = ['password_reset', 'email_verification', 'session_report', 'email_change', 'email_change_revert'] as const;
export type LinkPurpose = (typeof LINK_PURPOSES)[number];

/** A one-time link latchkey mailed (see the AccountRecovery migration): no token is stored, only what it may do. */
@Entity('account_links')
export class AccountLink {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 32 })
  purpose: LinkPurpose;

  @Column({ name: 'session_id', type: 'varchar', length: 36, nullable: true })
  sessionId: string | null;

  /**
   * The address an e-mail change link moves the account to (the new one, or back to the old
   * one); null for other purposes. Kept here, not on the user row: until the link is used,
   * nothing about the account changes.
   */
  @Column({ type: 'varchar', length: 320, nullable: true })
  email: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  @Column({ name: 'expires_at', type: 'bigint', transformer: epochMs })
  expiresAt: number;

  @Column({ name: 'used_at', type: 'bigint', nullable: true, transformer: epochMs })
  usedAt: number | null;

  @Column({ name: 'superseded_at', type: 'bigint', nullable: true, transformer: epochMs })
  supersededAt: number | null;
}
