import { ApiProperty } from '@nestjs/swagger';
import { AUDIT_EVENT_TYPES } from '../audit/audit-event.entity';
import { iso } from '../common/time';
import { ROLES } from '../common/role';
import type { AdminUserRow } from './admin-users.repository';

/** A user as an administrator sees it: never the password hash. */
export class AdminUserView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() email: string;
  @ApiProperty({ nullable: true, type: String }) name: string | null;
  @ApiProperty({ enum: ROLES }) role: string;
  @ApiProperty() disabled: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) lastLoginAt: string | null;
  @ApiProperty({ description: 'Sessions that are neither revoked nor expired.' }) activeSessions: number;
  @ApiProperty({ description: 'Whether the owner has proved they read mail at this address.' }) emailVerified: boolean;
  @ApiProperty({ description: 'Whether the user has an active second factor (TOTP or passkey).' }) mfaEnabled: boolean;
}

export class AdminUserPage {
  @ApiProperty({ type: [AdminUserView] }) items: AdminUserView[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `cursor` for the next page; null on the last page.' }) nextCursor: string | null;
}

export class RevokedCount {
  @ApiProperty() revoked: number;
}

export class AuditEventView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: AUDIT_EVENT_TYPES }) type: string;
  @ApiProperty({ nullable: true, type: String }) userId: string | null;
  @ApiProperty({ nullable: true, type: String }) sessionId: string | null;
  @ApiProperty({ nullable: true, type: String }) actorId: string | null;
  @ApiProperty({ nullable: true, type: String }) ip: string | null;
  @ApiProperty({ nullable: true, type: String }) userAgent: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ nullable: true, type: Object }) details: Record<string, unknown> | null;
}

export class AuditEventPage {
  @ApiProperty({ type: [AuditEventView] }) items: AuditEventView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}

export class HourCountView {
  @ApiProperty({ format: 'date-time', description: 'The first moment of the hour (from + n hours).' }) start: string;
  @ApiProperty({ description: 'Events in this hour; 0 when there were none.' }) count: number;
}

export class EventsPerHourView {
  @ApiProperty({ format: 'date-time' }) from: string;
  @ApiProperty({ format: 'date-time' }) to: string;
  @ApiProperty({ enum: AUDIT_EVENT_TYPES, nullable: true, type: String, description: 'null: every type.' }) type: string | null;
  @ApiProperty({ type: [HourCountView], description: 'Every hour of the range, oldest first.' }) hours: HourCountView[];
}

export function toAdminUserView(row: AdminUserRow): AdminUserView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    disabled: row.disabledAt !== null,
    createdAt: iso(row.createdAt)!,
    lastLoginAt: iso(row.lastLoginAt),
    activeSessions: row.activeSessions,
    emailVerified: row.emailVerifiedAt !== null,
    mfaEnabled: row.mfaEnabled,
  };
}
