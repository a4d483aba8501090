import { ApiProperty } from '@nestjs/swagger';
import { AUDIT_EVENT_TYPES } from '../audit/event-types';
import type { AuditEventRecord } from '../audit/audit.service';
import { iso } from '../common/time';
import { LINK_PURPOSES, type AccountLink } from './account-link.entity';
import { SessionView } from '../sessions/session.view';
import type { User } from '../users/user.entity';
import { toUserView, UserView } from '../users/user.view';

/**
 * The shapes of GET /me/export. Each is built from the row by a function that names every field
 * it copies, from the same views the other routes answer with: a secret column (password hash,
 * TOTP secret, refresh salt, MACs, code hashes) has no way in.
 */
export const EXPORT_FORMAT = 'latchkey-export/1';

export class ExportedAccountView extends UserView {
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) lastLoginAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) emailVerifiedAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'When an administrator disabled the account.' }) disabledAt: string | null;
  @ApiProperty({
    format: 'date-time',
    nullable: true,
    type: String,
    description: 'Since a "this wasn\'t me" report: the password must be replaced before it signs in again.',
  })
  passwordResetRequiredAt: string | null;
}

export function toExportedAccount(user: User): ExportedAccountView {
  return {
    ...toUserView(user),
    updatedAt: iso(user.updatedAt)!,
    lastLoginAt: iso(user.lastLoginAt),
    emailVerifiedAt: iso(user.emailVerifiedAt),
    disabledAt: iso(user.disabledAt),
    passwordResetRequiredAt: iso(user.passwordResetRequiredAt),
  };
}

/** A mailed link: what it was for and what became of it; never its token (which is not stored) nor its id (half of the token). */
export class ExportedLinkView {
  @ApiProperty({ enum: LINK_PURPOSES }) purpose: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'The session a "this wasn\'t me" link is about.' }) sessionId: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) expiresAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) usedAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) supersededAt: string | null;
}

export function toExportedLink(link: AccountLink): ExportedLinkView {
  return {
    purpose: link.purpose,
    sessionId: link.sessionId,
    createdAt: iso(link.createdAt)!,
    expiresAt: iso(link.expiresAt)!,
    usedAt: iso(link.usedAt),
    supersededAt: iso(link.supersededAt),
  };
}

/**
 * One of the user's own audit events. An event an administrator caused (a disable, a reset) is
 * the user's too, but who the administrator is and where they worked from are not: such an event
 * says `actor: "admin"` and carries neither the admin's id nor their address or browser.
 */
export class ExportedEventView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: AUDIT_EVENT_TYPES }) type: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String }) sessionId: string | null;
  @ApiProperty({
    enum: ['self', 'admin'],
    nullable: true,
    description: 'Who acted: the user, an administrator, or nobody signed in (a login attempt, latchkey itself).',
  })
  actor: 'self' | 'admin' | null;
  @ApiProperty({ nullable: true, type: String }) ip: string | null;
  @ApiProperty({ nullable: true, type: String }) userAgent: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ nullable: true, type: Object }) details: Record<string, unknown> | null;
}

export function toExportedEvent(event: AuditEventRecord, userId: string): ExportedEventView {
  const byOther = event.actorId !== null && event.actorId !== userId;
  return {
    id: event.id,
    type: event.type,
    sessionId: event.sessionId,
    actor: event.actorId === null ? null : byOther ? 'admin' : 'self',
    ip: byOther ? null : event.ip,
    userAgent: byOther ? null : event.userAgent,
    createdAt: iso(event.createdAt)!,
    details: event.details,
  };
}

/** The document, for the OpenAPI description (it is streamed, in this member order). */
export class AccountExportView {
  @ApiProperty({ example: EXPORT_FORMAT }) format: string;
  @ApiProperty({ format: 'date-time' }) exportedAt: string;
  @ApiProperty({ type: ExportedAccountView }) account: ExportedAccountView;
  @ApiProperty({ description: 'Second factors as GET /me/factors shows them: never a secret or a key.', type: 'array', items: { type: 'object' } })
  factors: unknown[];
  @ApiProperty({ description: '{remaining}: unused recovery codes (the codes themselves are never stored).' }) recoveryCodes: { remaining: number };
  @ApiProperty({ description: 'Remembered devices: {deviceId, createdAt, expiresAt}.', type: 'array', items: { type: 'object' } }) trustedDevices: unknown[];
  @ApiProperty({ type: [ExportedLinkView] }) accountLinks: ExportedLinkView[];
  @ApiProperty({ type: [SessionView], description: 'Every session, active and past (until SESSION_RETENTION), oldest first.' }) sessions: SessionView[];
  @ApiProperty({ type: [ExportedEventView], description: 'Every audit event about the account (until AUDIT_RETENTION), oldest first.' })
  auditEvents: ExportedEventView[];
}
