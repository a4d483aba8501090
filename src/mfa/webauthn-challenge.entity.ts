import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

/**
 * Where a WebAuthn challenge was offered: registering a passkey (bound to the user and the
 * session that asked), a password-less sign-in (bound to no one: the passkey names its user), or
 * a step-up (bound to the user and session). A login's second step keeps its challenge on its
 * `mfa_challenges` row instead.
 */
export const WEBAUTHN_PURPOSES = ['register', 'login', 'step_up'] as const;
export type WebAuthnPurpose = (typeof WEBAUTHN_PURPOSES)[number];

/**
 * A challenge handed to a browser, kept server-side until it is answered once or expires (5 min).
 * The browser signs it into clientDataJSON, so a response names its own challenge, and consuming
 * it is a DELETE of that row: the first response wins, a replay finds nothing.
 */
@Entity('webauthn_challenges')
export class WebAuthnChallenge {
  /** base64url of 32 random bytes. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  challenge: string;

  @Column({ type: 'varchar', length: 16 })
  purpose: WebAuthnPurpose;

  @Column({ name: 'user_id', type: 'varchar', length: 36, nullable: true })
  userId: string | null;

  @Column({ name: 'session_id', type: 'varchar', length: 36, nullable: true })
  sessionId: string | null;

  @Column({ name: 'expires_at', type: 'bigint', transformer: epochMs })
  expiresAt: number;
}
