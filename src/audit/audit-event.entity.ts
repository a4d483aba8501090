import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';
import type { AuditEventType } from './event-types';

export { AUDIT_EVENT_TYPES, type AuditEventType } from './event-types';

/** Append-only: rows are inserted, read and, past their retention, deleted; updated only to erase a deleted account's personal data. */
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
