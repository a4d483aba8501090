/**
 * How a session was authenticated: `acr` (NIST SP 800-63B assurance level), `amr` (RFC 8176
 * method references) and `auth_time` (the last real authentication, epoch ms). They belong to
 * the session: a refresh copies them and never raises them; only a completed second factor or a
 * step-up does, and an `aal2` older than AAL2_MAX_AGE reads as `aal1`.
 */
export const ACR_VALUES = ['aal1', 'aal2'] as const;
export type Acr = (typeof ACR_VALUES)[number];

export const AMR_VALUES = ['pwd', 'otp', 'hwk', 'swk', 'user', 'mfa'] as const;
export type Amr = (typeof AMR_VALUES)[number];

export interface Assurance {
  acr: Acr;
  amr: Amr[];
  /** Epoch milliseconds. */
  authTime: number;
}

export function passwordOnly(at: number): Assurance {
  return { acr: 'aal1', amr: ['pwd'], authTime: at };
}

/**
 * The assurance of an authentication that combined `methods`: two distinct factors (a
 * password and something held, or a user-verified passkey alone) make `aal2` and add `mfa`.
 */
export function combined(methods: Amr[], at: number): Assurance {
  const amr = [...new Set(methods)].filter((m) => m !== 'mfa');
  const factors = new Set(amr.map((m) => (m === 'pwd' ? 'know' : m === 'user' ? 'are' : 'have')));
  const strong = factors.size >= 2;
  return { acr: strong ? 'aal2' : 'aal1', amr: strong ? [...amr, 'mfa'] : amr, authTime: at };
}

/** The assurance a session has now: `aal2` lapses to `aal1` once its authentication is older than `aal2MaxAgeMs`. */
export function current(assurance: Assurance, now: number, aal2MaxAgeMs: number): Assurance {
  if (assurance.acr === 'aal2' && now - assurance.authTime > aal2MaxAgeMs) return { ...assurance, acr: 'aal1' };
  return assurance;
}

/** Stored as a comma-separated list. */
export function parseAmr(stored: string | null | undefined): Amr[] {
  return (stored ?? 'pwd').split(',').filter((m): m is Amr => (AMR_VALUES as readonly string[]).includes(m));
}

export function isAcr(value: unknown): value is Acr {
  return (ACR_VALUES as readonly unknown[]).includes(value);
}
