export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface AdminUser {
  id: string;
  email: string;
  name: string | null;
  role: 'user' | 'admin';
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  activeSessions: number;
}

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

export const EVENT_TYPES = [
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
