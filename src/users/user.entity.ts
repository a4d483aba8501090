import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

import type { Role } from '../common/role';

@Entity('users')
export class User {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  /** Trimmed and lower-cased; unique (UQ_users_email). */
  @Column({ type: 'varchar', length: 320 })
  email: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  name: string | null;

  @Column({ name: 'password_hash', type: 'varchar', length: 255 })
  passwordHash: string;

  @Column({ type: 'varchar', length: 16 })
  role: Role;

  @Column({ name: 'disabled_at', type: 'bigint', nullable: true, transformer: epochMs })
  disabledAt: number | null;

  @Column({ name: 'password_changed_at', type: 'bigint', nullable: true, transformer: epochMs })
  passwordChangedAt: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: epochMs })
  updatedAt: number;

  @Column({ name: 'last_login_at', type: 'bigint', nullable: true, transformer: epochMs })
  lastLoginAt: number | null;

  /** When the owner proved they read mail at `email` (a verification or reset link); null until then. */
  @Column({ name: 'email_verified_at', type: 'bigint', nullable: true, transformer: epochMs })
  emailVerifiedAt: number | null;

  /** Set by a "this wasn't me" report: no sign-in with the password until it is replaced (a reset or a change). */
  @Column({ name: 'password_reset_required_at', type: 'bigint', nullable: true, transformer: epochMs })
  passwordResetRequiredAt: number | null;
}
