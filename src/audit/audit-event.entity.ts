import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

export const AUDIT_EVENT_TYPES = [
  'user_registered',
  'login_succeeded',
  'login_failed',
  'token_refreshed',
  'refresh_token_reuse',
  'session_revoked',
  'password_changed',
  'user_disabled',
  'user_enabled',
  'user_promoted',
  'user_demoted',
  'rate_limited',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Append-only: rows are inserted, read and, past their retention, deleted; never updated. */
@Entity('audit_events')
export class AuditEvent {
  /** UUIDv7, so the primary key orders by time and serves as the pagination tie-breaker. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 32 })
  type: AuditEventType;

  @Column({ name: 'user_id', type: 'varchar', length: 36, nullable: true })
  userId: string | null;

  @Column({ name: 'session_id', type: 'varchar', length: 36, nullable: true })
  sessionId: string | null;

  @Column({ name: 'actor_id', type: 'varchar', length: 36, nullable: true })
  actorId: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: 512, nullable: true })
  userAgent: string | null;

  /** JSON text; kept as text so one migration serves MySQL and SQLite. */
  @Column({ type: 'text', nullable: true })
  details: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;
}
