import type { Role } from '../../../common/role';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface AdminUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  activeSessions: number;
  emailVerified: boolean;
  /** v3: the user has an active second factor. */
  mfaEnabled?: boolean;
}

/** A user's second factor as the admin API shows it (no secret): the shape the account pages read too. */
export type { Factor } from '../../../account/pages/client/factor.js';

export interface Session {
  id: string;
  deviceId: string;
  deviceName: string | null;
  userAgent: string | null;
  ip: string | null;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  idleExpiresAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
  current: boolean;
  dpopBound: boolean;
  /** v3: the session's assurance (`aal2`: signed in with a second factor or a passkey). */
  acr?: string;
  authTime?: string;
}

export interface AuditEvent {
  id: string;
  type: string;
  userId: string | null;
  sessionId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  createdAt: string;
  details: Record<string, unknown> | null;
}

/** GET /admin/events/hourly: every hour of the range, oldest first, empty hours as 0. */
export interface HourlyCounts {
  from: string;
  to: string;
  type: string | null;
  hours: Array<{ start: string; count: number }>;
}

export { AUDIT_EVENT_TYPES as EVENT_TYPES } from '../../../audit/event-types';

export interface ResourceServer {
  clientId: string;
  name: string;
  createdAt: string;
}
