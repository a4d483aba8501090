import { Injectable } from '@nestjs/common';
import type { Amr } from '../sessions/assurance';
import type { MfaChallenge } from './mfa-challenge.entity';
import type { MfaFactor } from './mfa-factor.entity';

export const SECOND_FACTOR_METHODS = ['totp', 'passkey', 'recovery_code'] as const;
export type SecondFactorMethodName = (typeof SECOND_FACTOR_METHODS)[number];

/** What the client sent as proof: a code (TOTP, recovery code) or a WebAuthn assertion. */
export interface SecondFactorProof {
  code?: string;
  credential?: unknown;
}

/** Where the proof is checked: the second step of a login (its pending challenge) or a step-up of a signed-in session. */
export interface SecondFactorAttempt {
  userId: string;
  /** The user's factors (active and pending), read once for the attempt. */
  factors: MfaFactor[];
  /** The login being finished, or null for a step-up (or a password-less sign-in: neither). */
  login: MfaChallenge | null;
  /** For a step-up: the session being raised. */
  sessionId: string | null;
}

/**
 * `ok`: the methods it proves (RFC 8176: `otp`, `hwk`/`swk`, `user`), and the factor used (null
 * for a recovery code). Not ok: `factorIds` are the factors the wrong proof counts against
 * (MFA_MAX_FAILURES consecutive failures lock a factor); `reason`, when the audit should say
 * more than "wrong" (a passkey's `sign_count`: a counter that went backwards, a cloned key).
 */
export type SecondFactorResult = { ok: true; amr: Amr[]; factorId: string | null } | { ok: false; factorIds: string[]; reason?: string };

/**
 * One way to prove the second factor. TOTP and recovery codes are latchkey's; a passkey plugs in
 * the same way (`SecondFactorMethods.register`), and every place that takes a second factor (the
 * login's second step, step-up) asks the registry, so a method added there works everywhere.
 */
export interface SecondFactorMethod {
  readonly name: SecondFactorMethodName;
  /** Whether this user can use it now (e.g. has an active, unlocked TOTP factor). */
  available(userId: string, factors: MfaFactor[]): Promise<boolean>;
  /**
   * What the client needs before proving it (a passkey: `{publicKey: <request options>}`), for
   * a login's second step (`login` set: keep the WebAuthn challenge on it) or a step-up of
   * session `sessionId` (bind it to that session).
   */
  options?(userId: string, factors: MfaFactor[], login: MfaChallenge | null, sessionId?: string): Promise<Record<string, unknown> | null>;
  /** Checks the proof; consumes whatever must work once (a TOTP step, a recovery code, a WebAuthn challenge). */
  verify(attempt: SecondFactorAttempt, proof: SecondFactorProof): Promise<SecondFactorResult>;
}

/** The registry of second-factor methods, keyed by name. */
@Injectable()
export class SecondFactorMethods {
  private readonly methods = new Map<SecondFactorMethodName, SecondFactorMethod>();

  register(method: SecondFactorMethod): void {
    this.methods.set(method.name, method);
  }

  get(name: SecondFactorMethodName): SecondFactorMethod | undefined {
    return this.methods.get(name);
  }

  /** The methods this user can use now, in the contract's order. */
  async availableTo(userId: string, factors: MfaFactor[]): Promise<SecondFactorMethod[]> {
    const out: SecondFactorMethod[] = [];
    for (const name of SECOND_FACTOR_METHODS) {
      const method = this.methods.get(name);
      if (method && (await method.available(userId, factors))) out.push(method);
    }
    return out;
  }
}
