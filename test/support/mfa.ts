import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import { Http, PASSWORD, Reply, Tokens, login } from './http';

/** The code an authenticator app shows at `at` (ms) for this base32 secret (RFC 6238: SHA-1, 6 digits, 30 s). */
export function totpCode(secret: string, at: number): string {
  return TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp: at });
}

export interface Enrolled {
  factorId: string;
  secret: string;
  recoveryCodes: string[];
}

/** Adds and activates an authenticator app for the signed-in caller (the account's first factor returns recovery codes). */
export async function enrolTotp(http: Http, accessToken: string, at: number, name?: string): Promise<Enrolled> {
  const added = await http.post('/me/factors/totp', name ? { name } : {}, { token: accessToken });
  assert.equal(added.status, 201, added.text);
  const verified = await http.post(`/me/factors/${added.body.id}/verify`, { code: totpCode(added.body.secret, at) }, { token: accessToken });
  assert.equal(verified.status, 200, verified.text);
  return { factorId: added.body.id, secret: added.body.secret, recoveryCodes: verified.body.recoveryCodes ?? [] };
}

/** The first step of a login that must answer mfaRequired. */
export async function firstStep(
  http: Http,
  email: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<{ mfaToken: string; methods: string[]; expiresIn: number }> {
  const r = await http.post('/auth/login', { email, password: PASSWORD, ...extra }, { headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.mfaRequired, true, r.text);
  return r.body;
}

export function verify(
  http: Http,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Reply<Tokens & { token_type: string; trustedDevice?: string; error?: string }>> {
  return http.post('/auth/mfa/verify', body, { headers });
}

/** Both steps, with a TOTP code: the token response. */
export async function loginWithTotp(
  http: Http,
  email: string,
  secret: string,
  at: number,
  extra: Record<string, unknown> = {},
): Promise<Tokens & { trustedDevice?: string }> {
  const { mfaToken } = await firstStep(http, email, extra);
  const r = await verify(http, { mfaToken, method: 'totp', code: totpCode(secret, at) });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

export { login };
