import type { AuditEvent } from './types.js';

const REASONS: Record<string, string> = {
  user_logout: 'signed out',
  user_revoked: 'removed by the user',
  admin_revoked: 'revoked by an administrator',
  password_changed: 'password changed',
  refresh_token_reuse: 'stolen refresh token detected',
  user_disabled: 'account disabled',
  device_relogin: 'signed in again on the same device',
  session_limit: 'too many devices',
  password_reset: 'password reset',
  reported_by_user: 'reported by the user ("this wasn\'t me")',
  role_changed: 'role changed',
  mfa_enabled: 'two-step sign-in turned on',
  mfa_reset: 'second factors reset by an administrator',
  account_deleted: 'account deleted',
  email_change_reverted: 'e-mail change reverted by the old address',
  email_unverified: 'e-mail address not confirmed',
  wrong_password: 'wrong password',
  unknown_user: 'unknown e-mail address',
  account_disabled: 'account disabled',
};

export const TYPE_LABELS: Record<string, string> = {
  user_registered: 'Account created',
  login_succeeded: 'Signed in',
  login_failed: 'Sign-in failed',
  token_refreshed: 'Token refreshed',
  refresh_token_reuse: 'Theft detected',
  session_revoked: 'Device signed out',
  password_changed: 'Password changed',
  user_disabled: 'Account disabled',
  user_enabled: 'Account enabled',
  user_promoted: 'Made administrator',
  user_demoted: 'Administrator role removed',
  rate_limited: 'Rate limited',
  password_reset_requested: 'Password reset e-mailed',
  password_reset: 'Password reset',
  email_verified: 'E-mail address confirmed',
  session_reported: '"This wasn\'t me"',
  resource_server_added: 'Resource server added',
  resource_server_removed: 'Resource server removed',
  invalid_dpop_proof: 'Refresh without the device key',
  mfa_factor_added: 'Second factor added',
  mfa_factor_removed: 'Second factor removed',
  mfa_failed: 'Second factor refused',
  mfa_locked: 'Second factor locked',
  recovery_code_used: 'Recovery code used',
  step_up_succeeded: 'Confirmed it was them (step-up)',
  mfa_reset: 'Second factors reset',
  email_changed: 'E-mail address changed',
  account_deleted: 'Account deleted',
  account_exported: 'Data downloaded',
};

export function typeLabel(type: string): string {
  return TYPE_LABELS[type] ?? type.replace(/_/g, ' ');
}

function reason(value: unknown): string | null {
  return typeof value === 'string' ? (REASONS[value] ?? value.replace(/_/g, ' ')) : null;
}

/** One readable sentence of what the event's details say; never the raw JSON. */
export function describe(event: AuditEvent): string {
  const d = event.details ?? {};
  switch (event.type) {
    case 'login_failed':
      return reason(d.reason) ? `Reason: ${reason(d.reason)}` : '';
    case 'session_revoked':
      return reason(d.reason) ? `Reason: ${reason(d.reason)}` : '';
    case 'refresh_token_reuse':
      return 'An old refresh token was presented again; the whole session was revoked.';
    case 'invalid_dpop_proof':
      return d.proof === 'other_key'
        ? "A refresh token of this key-bound device was used with another device's key: it was refused and nothing changed."
        : 'A refresh token of this key-bound device was used without its key: it was refused and nothing changed.';
    case 'user_disabled':
      return typeof d.revokedSessions === 'number' ? `${d.revokedSessions} device(s) signed out` : '';
    case 'password_changed':
      return typeof d.revokedSessions === 'number' ? `${d.revokedSessions} other device(s) signed out` : '';
    case 'password_reset':
      return typeof d.revokedSessions === 'number' ? `${d.revokedSessions} device(s) signed out` : '';
    case 'password_reset_requested':
      return d.origin === 'admin'
        ? 'Sent by an administrator'
        : d.origin === 'report'
          ? 'After a "this wasn\'t me" report'
          : d.origin === 'email_change_reverted'
            ? 'After an e-mail change was reverted'
            : 'Asked for with "forgot password"';
    case 'email_changed':
      if (d.stage !== 'reverted') return 'Confirmed from the new address';
      return `Reverted from the old address${d.restored === false ? ', which another account holds now, so the address stayed' : ''}; ${typeof d.revokedSessions === 'number' ? d.revokedSessions : 'every'} device(s) signed out`;
    case 'session_reported':
      return 'The user said a new sign-in was not theirs; that device was signed out.';
    case 'login_succeeded':
    case 'token_refreshed':
      return '';
    case 'user_registered':
      return d.role === 'admin' ? 'As an administrator' : '';
    default: {
      const parts = Object.entries(d)
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        .map(([k, v]) => `${k.replace(/([A-Z])/g, ' $1').toLowerCase()}: ${String(v)}`);
      return parts.join(', ');
    }
  }
}
