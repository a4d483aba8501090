/**
 * Every audit event type. A plain module with no imports, so the dashboard's browser bundle
 * uses this same list.
 */
export const AUDIT_EVENT_TYPES = [
  'user_registered',
  'login_succeeded',
  'login_failed',
  // Named by the contract ("may be sampled or off"): off here, so the refresh path stays at two
  // statements. Kept so that filtering by it answers an empty page rather than a 400.
  'token_refreshed',
  'refresh_token_reuse',
  'session_revoked',
  'password_changed',
  'user_disabled',
  'user_enabled',
  'user_promoted',
  'user_demoted',
  'rate_limited',
  'password_reset_requested',
  'password_reset',
  'email_verified',
  'session_reported',
  'resource_server_added',
  'resource_server_removed',
  // A refresh of a DPoP-bound session without a proof by its key (a copied refresh token).
  'invalid_dpop_proof',
  // Second factors (v3).
  'mfa_factor_added',
  'mfa_factor_removed',
  'mfa_failed',
  'mfa_locked',
  'recovery_code_used',
  'step_up_succeeded',
  'mfa_reset',
  // Account lifecycle (v3).
  'email_changed',
  'account_deleted',
  'account_exported',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];
