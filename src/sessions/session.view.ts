import { ApiProperty } from '@nestjs/swagger';
import { iso } from '../common/time';
import { REVOKE_REASONS, Session } from './session.entity';
import { ACR_VALUES } from './assurance';

export class SessionView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() deviceId: string;
  @ApiProperty({ nullable: true, type: String }) deviceName: string | null;
  @ApiProperty({ nullable: true, type: String }) userAgent: string | null;
  @ApiProperty({ nullable: true, type: String }) ip: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) lastUsedAt: string;
  @ApiProperty({ format: 'date-time' }) expiresAt: string;
  @ApiProperty({ format: 'date-time' }) idleExpiresAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) revokedAt: string | null;
  @ApiProperty({ enum: REVOKE_REASONS, nullable: true }) revokedReason: string | null;
  @ApiProperty() current: boolean;
  @ApiProperty({ description: 'Bound to a DPoP key (RFC 9449): its refresh token is useless without that key.' }) dpopBound: boolean;
  @ApiProperty({ enum: ACR_VALUES, description: 'Assurance level: aal2 after a second factor (lapses to aal1 after AAL2_MAX_AGE).' }) acr: string;
  @ApiProperty({ format: 'date-time', description: 'The last real authentication of this session (not its refreshes).' }) authTime: string;
}

export class SessionList {
  @ApiProperty({ type: [SessionView] }) items: SessionView[];
}

/** What a session looks like to its owner or an admin: never the salt or the chain state. */
export function toSessionView(s: Session, currentSessionId: string | null): SessionView {
  const authTime = s.authTime ?? s.createdAt;
  return {
    id: s.id,
    deviceId: s.deviceId,
    deviceName: s.deviceName,
    userAgent: s.userAgent,
    ip: s.ip,
    createdAt: iso(s.createdAt)!,
    lastUsedAt: iso(s.lastUsedAt)!,
    expiresAt: iso(s.expiresAt)!,
    idleExpiresAt: iso(Math.min(s.idleExpiresAt, s.expiresAt))!,
    revokedAt: iso(s.revokedAt),
    revokedReason: s.revokedReason,
    current: s.id === currentSessionId,
    dpopBound: s.dpopJkt !== null,
    acr: s.acr === 'aal2' ? 'aal2' : 'aal1',
    authTime: iso(authTime)!,
  };
}
