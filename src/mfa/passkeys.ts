import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import type { Amr } from '../sessions/assurance';
import { FactorsRepository } from './factors.repository';
import { MfaChallenge } from './mfa-challenge.entity';
import { MfaChallenges } from './mfa-challenges';
import { MfaFactor } from './mfa-factor.entity';
import { SecondFactorAttempt, SecondFactorMethod, SecondFactorMethods, SecondFactorProof, SecondFactorResult } from './second-factor-methods';
import { assertionCredentialProblem } from './webauthn-credential';
import { WebAuthnChallengesRepository } from './webauthn-challenges.repository';
import { WebAuthnPurpose } from './webauthn-challenge.entity';
import { CEREMONY_TIMEOUT_MS, NewPasskey, PasskeyCredential, WebAuthnService, passkeyAmr } from './webauthn.service';

/** The session a registration or step-up challenge is bound to. */
export interface CeremonyOwner {
  userId: string;
  sessionId: string;
}

const usable = (f: MfaFactor) => f.type === 'passkey' && f.activatedAt !== null && f.lockedAt === null && f.credentialId !== null && f.publicKey !== null;

export function toPasskeyCredential(f: MfaFactor): PasskeyCredential {
  return {
    credentialId: f.credentialId!,
    publicKey: Buffer.from(f.publicKey!, 'base64url'),
    signCount: Number(f.signCount ?? 0),
    transports: f.transports ? f.transports.split(',') : [],
  };
}

/**
 * Passkeys as latchkey uses them: registered as a factor, proven as the second step of a login,
 * as a step-up, or alone (password-less). Every challenge is made here, kept server-side and
 * taken back once: a login's on its `mfa_challenges` row (the mfaToken is single use), the others
 * in `webauthn_challenges` (deleted by the answer that names it). The ceremonies themselves are
 * WebAuthnService's.
 */
@Injectable()
export class PasskeyMethod implements SecondFactorMethod, OnModuleInit {
  readonly name = 'passkey' as const;
  private readonly webauthn: WebAuthnService;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly clock: Clock,
    private readonly factors: FactorsRepository,
    private readonly challenges: WebAuthnChallengesRepository,
    private readonly logins: MfaChallenges,
    private readonly methods: SecondFactorMethods,
  ) {
    this.webauthn = new WebAuthnService({ id: config.webauthnRpId, name: config.webauthnRpName, origins: config.webauthnOrigins });
  }

  onModuleInit(): void {
    this.methods.register(this);
  }

  async available(_userId: string, factors: MfaFactor[]): Promise<boolean> {
    return factors.some(usable);
  }

  /** Request options for the user's passkeys: kept on the login being finished, or bound to the session stepping up. */
  async options(userId: string, factors: MfaFactor[], login: MfaChallenge | null, sessionId?: string | null): Promise<Record<string, unknown> | null> {
    const challenge = WebAuthnService.challenge();
    if (login) await this.logins.setWebauthnChallenge(login, challenge);
    else if (sessionId) await this.offer(challenge, 'step_up', { userId, sessionId });
    else return null;
    return { passkey: { publicKey: await this.webauthn.authenticationOptions(factors.filter(usable).map(toPasskeyCredential), challenge) } };
  }

  /**
   * An assertion by one of the attempt's user's passkeys, for the challenge this attempt was
   * offered: the login's, the session's step-up one, or (no login, no session) a password-less
   * sign-in's. A counter that did not move forward is refused with `sign_count`, and the stored
   * one stays.
   */
  async verify(attempt: SecondFactorAttempt, proof: SecondFactorProof): Promise<SecondFactorResult> {
    const passkeys = attempt.factors.filter(usable);
    if (assertionCredentialProblem(proof.credential) !== null) return { ok: false, factorIds: [] };
    const credential = proof.credential as AuthenticationResponseJSON;
    const expected = await this.takeChallenge(attempt, credential);
    const factor = passkeys.find((f) => f.credentialId === credential.id);
    // The user handle, when the authenticator sends one, must name the same user (WebAuthn §7.2 step 6).
    const handle = credential.response.userHandle;
    // A password-less sign-in names its user only by the credential: the handle must be there too.
    const passwordless = attempt.login === null && attempt.sessionId === null;
    const handleOk = handle === undefined || handle === null ? !passwordless : handle === WebAuthnService.userHandle(attempt.userId);
    if (!factor || !handleOk) return { ok: false, factorIds: [] };
    if (expected === null) return { ok: false, factorIds: [factor.id] };
    const outcome = await this.webauthn.verifyAuthentication(credential, expected, toPasskeyCredential(factor));
    if (!outcome.ok) return { ok: false, factorIds: [factor.id], reason: outcome.reason };
    // Forwards only, and only once: a concurrent assertion with the same or a higher count wins.
    if (!(await this.factors.advanceSignCount(factor.id, outcome.signCount, this.clock.now(), outcome.backedUp)))
      return { ok: false, factorIds: [factor.id], reason: 'sign_count' };
    return { ok: true, amr: [passkeyAmr(outcome.backupEligible || Boolean(Number(factor.backupEligible ?? 0))), 'user'], factorId: factor.id };
  }

  /** Options for a password-less sign-in: discoverable credentials, no user named. */
  async signInOptions(): Promise<{ publicKey: Record<string, unknown> }> {
    const challenge = WebAuthnService.challenge();
    await this.offer(challenge, 'login', null);
    return { publicKey: (await this.webauthn.authenticationOptions(null, challenge)) as unknown as Record<string, unknown> };
  }

  /** Options to register a new passkey, bound to the caller's session; the user's passkeys are excluded. */
  async registrationOptions(
    owner: CeremonyOwner,
    user: { email: string; name: string | null },
    factors: MfaFactor[],
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const challenge = WebAuthnService.challenge();
    await this.offer(challenge, 'register', owner);
    const existing = factors.filter((f) => f.type === 'passkey' && f.credentialId !== null && f.publicKey !== null).map(toPasskeyCredential);
    return this.webauthn.registrationOptions({ id: owner.userId, email: user.email, name: user.name }, existing, challenge);
  }

  /**
   * A registration response for a challenge this session was offered (taken back, whatever the
   * outcome), verified: the new factor's row, not yet stored. 400 when it does not verify.
   */
  async verifyRegistration(owner: CeremonyOwner, credential: RegistrationResponseJSON, name: string | undefined): Promise<{ factor: MfaFactor; amr: Amr[] }> {
    const challenge = WebAuthnService.challengeOf(credential);
    const offered = challenge !== null && (await this.challenges.consume(challenge, 'register', owner, this.clock.now()));
    const outcome = offered ? await this.webauthn.verifyRegistration(credential, challenge) : null;
    if (!outcome?.ok)
      throw ApiError.validation(
        [
          {
            field: 'credential',
            message: 'the passkey could not be verified: its challenge, origin, relying party or user verification is wrong, or the options expired',
          },
        ],
        'The passkey could not be verified.',
      );
    return { factor: this.newFactor(owner.userId, outcome.passkey, name), amr: [passkeyAmr(outcome.passkey.backupEligible), 'user'] };
  }

  /** The user a password-less assertion names (by its credential id), or null. */
  async ownerOf(credential: unknown): Promise<string | null> {
    if (assertionCredentialProblem(credential) !== null) return null;
    const factor = await this.factors.findByCredentialId((credential as AuthenticationResponseJSON).id);
    return factor && factor.type === 'passkey' ? factor.userId : null;
  }

  private newFactor(userId: string, passkey: NewPasskey, name: string | undefined): MfaFactor {
    const now = this.clock.now();
    return {
      id: uuidv7(now),
      userId,
      type: 'passkey',
      name: name ?? 'Passkey',
      createdAt: now,
      lastUsedAt: null,
      activatedAt: now,
      totpSecret: null,
      totpLastStep: null,
      credentialId: passkey.credentialId,
      publicKey: Buffer.from(passkey.publicKey).toString('base64url'),
      signCount: passkey.signCount,
      transports: passkey.transports.join(',') || null,
      backupEligible: passkey.backupEligible,
      backedUp: passkey.backedUp,
      aaguid: passkey.aaguid,
      consecutiveFailures: 0,
      lockedAt: null,
    };
  }

  private offer(challenge: string, purpose: WebAuthnPurpose, owner: CeremonyOwner | null): Promise<void> {
    return this.challenges.insert({
      challenge,
      purpose,
      userId: owner?.userId ?? null,
      sessionId: owner?.sessionId ?? null,
      expiresAt: this.clock.now() + CEREMONY_TIMEOUT_MS,
    });
  }

  /**
   * The challenge this attempt may answer, or null. A login's is on its row, single use with
   * the mfaToken; a step-up's and a password-less sign-in's are deleted by the first answer
   * that names them, right or wrong.
   */
  private async takeChallenge(attempt: SecondFactorAttempt, credential: AuthenticationResponseJSON): Promise<string | null> {
    if (attempt.login) return attempt.login.webauthnChallenge;
    const named = WebAuthnService.challengeOf(credential);
    if (named === null) return null;
    const owner = attempt.sessionId ? { userId: attempt.userId, sessionId: attempt.sessionId } : null;
    return (await this.challenges.consume(named, attempt.sessionId ? 'step_up' : 'login', owner, this.clock.now())) ? named : null;
  }
}
