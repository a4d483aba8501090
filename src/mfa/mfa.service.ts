import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import type { ClientContext } from '../common/client-context';
import { DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { MailOutbox } from '../mail/mail-outbox';
import { MfaLockoutService } from '../rate-limit/mfa-lockout.service';
import { AMR_VALUES, Amr, Assurance, combined } from '../sessions/assurance';
import { FactorsRepository } from './factors.repository';
import { MfaChallenge } from './mfa-challenge.entity';
import { MfaChallenges, PendingLogin } from './mfa-challenges';
import { MfaFactor } from './mfa-factor.entity';
import { SecondFactorAttempt, SecondFactorMethodName, SecondFactorMethods, SecondFactorProof } from './second-factor-methods';
import { PasskeyMethod } from './passkeys';

/** Who acts on their own factors: the verified claims of their access token (auth's Principal has this shape). */
export interface Caller {
  userId: string;
  sessionId: string;
  acr: string;
  amr: readonly string[];
  /** Epoch ms of the session's last real authentication. */
  authTime: number;
}

/** The answer to a correct password when a second factor is due (API.md, "Login with a factor"). */
export interface MfaRequiredAnswer {
  mfaRequired: true;
  mfaToken: string;
  expiresIn: number;
  methods: SecondFactorMethodName[];
  /** A passkey as the second factor: `{publicKey: <WebAuthn request options>}`. */
  passkey?: Record<string, unknown>;
}

export const isActive = (f: MfaFactor) => f.activatedAt !== null;

/**
 * The second factor as a step of authentication: the login's second step (an mfaToken) and the
 * step-up of a signed-in session, both through the registry of methods. Every attempt counts
 * against MFA_LOCKOUT (per account); a wrong one against the mfaToken (5 and it dies) and the
 * factors it was tried on (MFA_MAX_FAILURES consecutive and they lock).
 */
@Injectable()
export class MfaService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly factors: FactorsRepository,
    private readonly methods: SecondFactorMethods,
    private readonly challenges: MfaChallenges,
    private readonly lockout: MfaLockoutService,
    private readonly audit: AuditService,
    private readonly mail: MailOutbox,
    private readonly passkeys: PasskeyMethod,
  ) {}

  /** A user with an active factor gets a second step instead of a session; null: no factor, open the session. */
  async loginStep(userId: string, login: PendingLogin, client: ClientContext): Promise<MfaRequiredAnswer | null> {
    const factors = await this.factors.listForUser(userId);
    if (!factors.some(isActive)) return null;
    const available = await this.methods.availableTo(userId, factors);
    const { token, challenge } = await this.challenges.issue(userId, login, client);
    const answer: MfaRequiredAnswer = { mfaRequired: true, mfaToken: token, expiresIn: this.config.mfaTokenTtl, methods: available.map((m) => m.name) };
    for (const method of available) Object.assign(answer, (await method.options?.(userId, factors, challenge)) ?? {});
    return answer;
  }

  /**
   * Checks a login's second step without consuming its mfaToken (the caller does, in the
   * transaction that opens the session): the challenge, and the assurance the session gets.
   */
  async verifyLogin(
    mfaToken: string,
    method: SecondFactorMethodName,
    proof: SecondFactorProof,
    client: ClientContext,
  ): Promise<{ challenge: MfaChallenge; assurance: Assurance }> {
    const challenge = await this.challenges.find(mfaToken);
    if (!challenge || !(await this.challenges.takeAttempt(challenge))) throw ApiError.invalidMfaToken();
    let wrong = false;
    try {
      const amr = await this.check(challenge.userId, method, proof, { login: challenge, sessionId: null }, client, async () => {
        wrong = true;
      });
      return { challenge, assurance: combined(['pwd', ...amr], this.clock.now()) };
    } finally {
      if (!wrong) await this.challenges.refundAttempt(challenge);
    }
  }

  /** A step-up by a second factor: the assurance the caller's session is raised to. */
  async verifyStepUp(caller: Caller, method: SecondFactorMethodName, proof: SecondFactorProof, client: ClientContext): Promise<Assurance> {
    const amr = await this.check(caller.userId, method, proof, { login: null, sessionId: caller.sessionId }, client);
    const had = caller.amr.filter((m): m is Amr => (AMR_VALUES as readonly string[]).includes(m));
    return combined([...had, ...amr], this.clock.now());
  }

  /** What a step-up can use now: the second-factor methods, or the password for a user who has none, and their options (a passkey's). */
  async stepUpOptions(
    caller: Pick<Caller, 'userId' | 'sessionId'>,
  ): Promise<{ methods: Array<SecondFactorMethodName | 'password'>; passkey?: Record<string, unknown> }> {
    const { userId, sessionId } = caller;
    const factors = await this.factors.listForUser(userId);
    if (!factors.some(isActive)) return { methods: ['password'] };
    const available = await this.methods.availableTo(userId, factors);
    const answer: { methods: Array<SecondFactorMethodName | 'password'>; passkey?: Record<string, unknown> } = { methods: available.map((m) => m.name) };
    for (const method of available) Object.assign(answer, (await method.options?.(userId, factors, null, sessionId)) ?? {});
    return answer;
  }

  /**
   * A password-less sign-in: a passkey alone, found by its credential id. A user-verified
   * passkey is two factors (something held, and the PIN or biometric that unlocked it), so the
   * session is `aal2` (amr `hwk`/`swk`, `user`, `mfa`). Audited like any second factor, but
   * not counted against the account or the factor; an unknown credential names no account and
   * is refused the same way.
   */
  async verifyPasswordless(credential: unknown, client: ClientContext): Promise<{ userId: string; assurance: Assurance }> {
    const userId = await this.passkeys.ownerOf(credential);
    if (userId === null) {
      await this.audit.record({ type: 'login_failed', userId: null, client, details: { method: 'passkey', reason: 'unknown_credential' } });
      throw ApiError.invalidSecondFactor();
    }
    // A credential id is no secret (allowCredentials shows it): a failed assertion proves nothing
    // about its owner, so it counts per client address (AUTH_RATE_LIMIT), never against the
    // account's MFA_LOCKOUT nor the factor's failure counter, or a stranger could lock them out.
    const factors = await this.factors.listForUser(userId);
    const result = await this.passkeys.verify({ userId, factors, login: null, sessionId: null }, { credential });
    if (!result.ok) {
      await this.audit.record({
        type: 'mfa_failed',
        userId,
        client,
        details: { method: 'passkey', stage: 'passwordless', ...(result.reason ? { reason: result.reason } : {}) },
      });
      throw ApiError.invalidSecondFactor();
    }
    return { userId, assurance: combined(result.amr, this.clock.now()) };
  }

  async hasActiveFactor(userId: string): Promise<boolean> {
    return (await this.factors.listForUser(userId)).some(isActive);
  }

  /**
   * What a password change and a data export ask: once the account has a second factor, an `aal2`
   * session (RFC 9470 step-up otherwise), so that a password alone (a stolen one, a trusted
   * device's `aal1` session) can neither replace itself nor carry the account's history away.
   */
  async requireAal2IfEnrolled(caller: { userId: string; acr: string; dpopJkt: string | null }): Promise<void> {
    if (caller.acr !== 'aal2' && (await this.hasActiveFactor(caller.userId)))
      throw ApiError.insufficientUserAuthentication('aal2', undefined, caller.dpopJkt ? 'DPoP' : 'Bearer');
  }

  private async check(
    userId: string,
    name: SecondFactorMethodName,
    proof: SecondFactorProof,
    where: Pick<SecondFactorAttempt, 'login' | 'sessionId'>,
    client: ClientContext,
    onFailure?: () => Promise<void>,
  ): Promise<Amr[]> {
    await this.lockout.attempt(userId, client);
    const factors = await this.factors.listForUser(userId);
    const method = this.methods.get(name);
    const usable = method !== undefined && (await method.available(userId, factors));
    const result = usable ? await method.verify({ userId, factors, ...where }, proof) : { ok: false as const, factorIds: [] };
    if (!result.ok) {
      await onFailure?.();
      const locked = await this.factors.recordFailures(result.factorIds, this.config.mfaMaxFailures, this.clock.now());
      await this.audit.record([
        { type: 'mfa_failed', userId, client, details: { method: name, stage: stageOf(where), ...(result.reason ? { reason: result.reason } : {}) } },
        ...locked.map((factorId) => ({ type: 'mfa_locked' as const, userId, client, details: { factorId } })),
      ]);
      throw ApiError.invalidSecondFactor();
    }
    await this.lockout.clear(userId);
    if (name === 'recovery_code') {
      await this.database.transaction(async (db) => {
        await this.audit.record({ type: 'recovery_code_used', userId, client, details: { stage: stageOf(where) } }, db);
        await this.mail.enqueue({ kind: 'recovery_code_used', userId, data: { ip: client.ip, userAgent: client.userAgent, at: this.clock.now() } }, db);
      });
    }
    return result.amr;
  }
}

/** Where a second factor was presented: a login's second step, a step-up, or a password-less sign-in (a passkey alone). */
function stageOf(where: Pick<SecondFactorAttempt, 'login' | 'sessionId'>): 'login' | 'step_up' | 'passwordless' {
  return where.login ? 'login' : where.sessionId ? 'step_up' : 'passwordless';
}
