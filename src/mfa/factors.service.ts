import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import type { Actor, ClientContext } from '../common/client-context';
import { Db, DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { MailOutbox } from '../mail/mail-outbox';
import { UsersService } from '../users/users.service';
import { SessionsService } from '../sessions/sessions.service';
import { AMR_VALUES, Amr, combined } from '../sessions/assurance';
import { mfaRequiredFor, Role } from '../common/role';
import { FactorsRepository } from './factors.repository';
import { MfaChallenges } from './mfa-challenges';
import { FactorType, MfaFactor } from './mfa-factor.entity';
import { Caller, isActive } from './mfa.service';
import { RecoveryCodes } from './recovery-codes';
import { TotpMethod } from './totp';
import { PasskeyMethod } from './passkeys';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import { TrustedDevicesRepository } from './trusted-devices.repository';
import { WebAuthnChallengesRepository } from './webauthn-challenges.repository';

export const MAX_FACTORS = 10;

/** What a user (or an admin) sees of a factor: never a secret or a key. */
export interface FactorView {
  id: string;
  type: FactorType;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** TOTP: false until its first code. */
  active: boolean;
  locked: boolean;
  /** Passkeys: whether the credential is synced (backed up). */
  backedUp?: boolean;
}

export function toFactorView(f: MfaFactor): FactorView {
  return {
    id: f.id,
    type: f.type,
    name: f.name,
    createdAt: new Date(f.createdAt).toISOString(),
    lastUsedAt: f.lastUsedAt === null ? null : new Date(f.lastUsedAt).toISOString(),
    active: f.activatedAt !== null,
    locked: f.lockedAt !== null,
    ...(f.type === 'passkey' ? { backedUp: Boolean(Number(f.backedUp ?? 0)) } : {}),
  };
}

/**
 * A user's second factors: enrolment, naming, removal, recovery codes, and what an admin may do
 * about them. Changing them needs a recent authentication (the route's `maxAge`) and, once the
 * user has a factor, `aal2` (checked here: it needs the factor list).
 */
@Injectable()
export class FactorsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly factors: FactorsRepository,
    private readonly totp: TotpMethod,
    private readonly passkeys: PasskeyMethod,
    private readonly recoveryCodes: RecoveryCodes,
    private readonly trustedDevices: TrustedDevicesRepository,
    private readonly challenges: MfaChallenges,
    private readonly webauthnChallenges: WebAuthnChallengesRepository,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    private readonly mail: MailOutbox,
  ) {}

  async list(userId: string): Promise<FactorView[]> {
    return (await this.factors.listForUser(userId)).map(toFactorView);
  }

  /** A pending TOTP factor and its secret, shown this once (and the otpauth:// URI for a QR code). */
  async addTotp(caller: Caller, name: string | undefined): Promise<{ id: string; secret: string; otpauthUri: string }> {
    const existing = await this.factors.listForUser(caller.userId);
    this.requireAal2IfEnrolled(caller, existing);
    if (existing.length >= MAX_FACTORS) throw ApiError.factorLimit(MAX_FACTORS);
    const user = await this.users.findById(caller.userId);
    if (!user) throw ApiError.invalidToken(true);
    const now = this.clock.now();
    const id = uuidv7(now);
    const { secret, sealed, otpauthUri } = this.totp.newSecret(id, user.email);
    await this.factors.insert({
      ...emptyFactor(),
      id,
      userId: caller.userId,
      type: 'totp',
      name: name ?? 'Authenticator app',
      createdAt: now,
      totpSecret: sealed,
    });
    return { id, secret, otpauthUri };
  }

  /** Options to register a passkey, for this session only (the same gates as any factor change). */
  async passkeyRegistrationOptions(caller: Caller): Promise<{ publicKey: unknown }> {
    const existing = await this.factors.listForUser(caller.userId);
    this.requireAal2IfEnrolled(caller, existing);
    if (existing.length >= MAX_FACTORS) throw ApiError.factorLimit(MAX_FACTORS);
    const user = await this.users.findById(caller.userId);
    if (!user) throw ApiError.invalidToken(true);
    return { publicKey: await this.passkeys.registrationOptions(caller, user, existing) };
  }

  /**
   * A passkey, registered and active at once: the registration proved the key and the user
   * verification that unlocks it. A credential already registered (to anyone) is 409
   * `factor_exists`, from the unique index, so two concurrent registrations cannot both land.
   */
  async addPasskey(
    caller: Caller,
    credential: RegistrationResponseJSON,
    name: string | undefined,
    client: ClientContext,
  ): Promise<FactorView & { recoveryCodes?: string[] }> {
    const existing = await this.factors.listForUser(caller.userId);
    this.requireAal2IfEnrolled(caller, existing);
    if (existing.length >= MAX_FACTORS) throw ApiError.factorLimit(MAX_FACTORS);
    const { factor, amr } = await this.passkeys.verifyRegistration(caller, credential, name);
    const recoveryCodes = await this.database.transaction(async (db) => {
      await this.factors.insert(factor, db);
      return this.factorAdded(caller, factor, amr, client, db);
    });
    return { ...toFactorView(factor), ...(recoveryCodes ? { recoveryCodes } : {}) };
  }

  /** The first code of a pending TOTP factor activates it. */
  async activateTotp(caller: Caller, factorId: string, code: string, client: ClientContext): Promise<FactorView & { recoveryCodes?: string[] }> {
    const factors = await this.factors.listForUser(caller.userId);
    const factor = factors.find((f) => f.id === factorId);
    if (!factor || factor.type !== 'totp' || isActive(factor)) throw ApiError.notFound('No pending authenticator with this id.');
    this.requireAal2IfEnrolled(caller, factors);
    const recoveryCodes = await this.database.transaction(async (db) => {
      if (!(await this.totp.activate(factor, code, db))) throw ApiError.invalidSecondFactor();
      return this.factorAdded(caller, factor, ['otp'], client, db);
    });
    const active = (await this.factors.findForUser(caller.userId, factorId))!;
    return { ...toFactorView(active), ...(recoveryCodes ? { recoveryCodes } : {}) };
  }

  /**
   * A factor just became active, inside its transaction. The first one raises the caller's
   * session to `aal2` (its current link will mint it; no older one can), signs out every other
   * session (`mfa_enabled`: they were opened with the password alone), hands out recovery codes
   * (returned) and tells the user. For the passkey registration too. Whether it is the first is
   * counted here, under the user's row lock: of two concurrent activations, one is first.
   */
  async factorAdded(caller: Caller, factor: MfaFactor, proven: Amr[], client: ClientContext, db: Db): Promise<string[] | null> {
    const actor: Actor = { actorId: caller.userId, client };
    await this.audit.record(
      { type: 'mfa_factor_added', userId: caller.userId, sessionId: caller.sessionId, ...actor, details: { factorId: factor.id, type: factor.type } },
      db,
    );
    await this.users.lock(caller.userId, db);
    if ((await this.factors.listForUser(caller.userId, db)).some((f) => isActive(f) && f.id !== factor.id)) return null;
    const had = caller.amr.filter((m): m is Amr => (AMR_VALUES as readonly string[]).includes(m));
    const raised = await this.sessions.raiseAssurance(caller.userId, caller.sessionId, combined([...had, ...proven], this.clock.now()), {
      rotate: false,
      endsEnrollment: true,
      db,
    });
    if (!raised) throw ApiError.invalidToken(true);
    await this.sessions.revoke({ userId: caller.userId, excludeId: caller.sessionId }, 'mfa_enabled', actor, db);
    const codes = await this.recoveryCodes.regenerate(caller.userId, db);
    await this.mail.enqueue({ kind: 'mfa_enabled', userId: caller.userId, data: { type: factor.type, name: factor.name } }, db);
    return codes;
  }

  async rename(userId: string, factorId: string, name: string): Promise<FactorView> {
    if (!(await this.factors.rename(userId, factorId, name))) throw ApiError.notFound('No such factor of yours.');
    return toFactorView((await this.factors.findForUser(userId, factorId))!);
  }

  async remove(caller: Caller, factorId: string, client: ClientContext): Promise<void> {
    const factors = await this.factors.listForUser(caller.userId);
    if (!factors.some((f) => f.id === factorId)) throw ApiError.notFound('No such factor of yours.');
    this.requireAal2IfEnrolled(caller, factors);
    const user = await this.users.findById(caller.userId);
    await this.database.transaction((db) => this.removeOne(caller.userId, factorId, user?.role ?? 'user', { actorId: caller.userId, client }, db));
  }

  async recoveryCodesLeft(userId: string): Promise<{ remaining: number }> {
    return { remaining: await this.recoveryCodes.remaining(userId) };
  }

  /** A new set of recovery codes; the old set dies. Only next to an active factor. */
  async regenerateRecoveryCodes(caller: Caller): Promise<{ recoveryCodes: string[] }> {
    const factors = await this.factors.listForUser(caller.userId);
    if (!factors.some(isActive)) throw ApiError.forbidden('Recovery codes go with a second factor: set one up first.');
    this.requireAal2IfEnrolled(caller, factors);
    return { recoveryCodes: await this.database.transaction((db) => this.recoveryCodes.regenerate(caller.userId, db)) };
  }

  /** Admin: a user's factors (404 for an unknown user). */
  async listForUser(userId: string): Promise<FactorView[]> {
    if (!(await this.users.findById(userId))) throw ApiError.notFound('No such user.');
    return this.list(userId);
  }

  /** Admin: the reset of another user's second factors (their own would be a way around their own second factor). */
  async resetByAdmin(userId: string, admin: Actor): Promise<{ removed: number }> {
    if (userId === admin.actorId) throw ApiError.forbidden('You cannot reset your own second factors; another admin or the CLI (mfa:reset) can.');
    return { removed: await this.reset(userId, admin) };
  }

  /** Admin: one factor of a user goes. */
  async removeForUser(admin: { userId: string }, userId: string, factorId: string, client: ClientContext): Promise<void> {
    // Their own would skip the self-service gates (aal2, REAUTH_MAX_AGE): /me/factors is the way.
    if (userId === admin.userId) throw ApiError.forbidden('You cannot remove your own second factors here; use /me/factors.');
    const user = await this.users.findById(userId);
    if (!user) throw ApiError.notFound('No such user.');
    const removed = await this.database.transaction(async (db) => {
      if (!(await this.factors.findForUser(userId, factorId, db))) return false;
      await this.removeOne(userId, factorId, user.role, { actorId: admin.userId, client }, db);
      return true;
    });
    if (!removed) throw ApiError.notFound('No such factor of this user.');
  }

  /**
   * Admin (or the CLI, for a sole admin who lost their device): every factor, recovery code and
   * trusted device of the user goes, every session is revoked (`mfa_reset`), and the user is
   * told. Returns how many factors were removed.
   */
  async reset(userId: string, actor: Actor): Promise<number> {
    const user = await this.users.findById(userId);
    if (!user) throw ApiError.notFound('No such user.');
    return this.database.transaction(async (db) => {
      const removed = await this.factors.deleteAllForUser(userId, db);
      await this.recoveryCodes.deleteAll(userId, db);
      await this.trustedDevices.forgetUser(userId, db);
      await this.challenges.endForUser(userId, db);
      await this.sessions.revoke({ userId }, 'mfa_reset', actor, db);
      await this.audit.record({ type: 'mfa_reset', userId, ...actor, details: { removed } }, db);
      await this.mail.enqueue({ kind: 'mfa_reset', userId, data: {} }, db);
      return removed;
    });
  }

  /**
   * Account deletion, in its transaction: every factor, recovery code, trusted device, pending
   * second step and WebAuthn ceremony of the user goes. No mail and no event of its own: the
   * deletion records one for all of it.
   */
  async eraseUser(userId: string, db: Db): Promise<void> {
    await this.factors.deleteAllForUser(userId, db);
    await this.recoveryCodes.deleteAll(userId, db);
    await this.trustedDevices.forgetUser(userId, db);
    await this.challenges.deleteForUser(userId, db);
    await this.webauthnChallenges.deleteForUser(userId, db);
  }

  /** Whether the user has an active factor (the admin users list shows it). */
  async enabled(userId: string): Promise<boolean> {
    return (await this.factors.listForUser(userId)).some(isActive);
  }

  /**
   * "This wasn't me", in the report's transaction: whoever signed in may have enrolled a factor
   * of their own (and, with the first one, signed the user out and taken the recovery codes), so
   * every factor created since the reported sign-in goes. When no active factor from before is
   * left, the same follows as for a removed last factor (recovery codes gone, the user told).
   * Either way no device stays trusted and no pending second step or WebAuthn ceremony survives.
   */
  async removeEnrolledSince(userId: string, since: number, actor: Actor, db: Db): Promise<number> {
    const enrolled = (await this.factors.listForUser(userId, db)).filter((f) => f.createdAt >= since);
    if (enrolled.length > 0) await this.factors.removeCreatedSince(userId, since, db);
    for (const f of enrolled)
      await this.audit.record({ type: 'mfa_factor_removed', userId, ...actor, details: { factorId: f.id, type: f.type, reason: 'reported_by_user' } }, db);
    await this.webauthnChallenges.deleteForUser(userId, db);
    const left = await this.factors.listForUser(userId, db);
    if (left.some(isActive) || !enrolled.some(isActive)) {
      await this.trustedDevices.forgetUser(userId, db);
      await this.challenges.endForUser(userId, db);
      return enrolled.length;
    }
    const user = await this.users.findById(userId, db);
    await this.noFactorLeft(userId, user?.role ?? 'user', db);
    return enrolled.length;
  }

  private async removeOne(userId: string, factorId: string, role: Role, actor: Actor, db: Db): Promise<void> {
    if (!(await this.factors.delete(userId, factorId, db))) return;
    await this.audit.record({ type: 'mfa_factor_removed', userId, ...actor, details: { factorId } }, db);
    const left = await this.factors.listForUser(userId, db);
    if (left.some(isActive)) return;
    await this.noFactorLeft(userId, role, db);
  }

  /** The last active factor went: nothing is left for recovery codes or trusted devices to stand in for. */
  private async noFactorLeft(userId: string, role: Role, db: Db): Promise<void> {
    await this.recoveryCodes.deleteAll(userId, db);
    await this.trustedDevices.forgetUser(userId, db);
    await this.challenges.endForUser(userId, db);
    if (this.mfaRequiredFor(role)) await this.sessions.requireEnrollment(userId, db);
    await this.mail.enqueue({ kind: 'mfa_disabled', userId, data: {} }, db);
  }

  /** MFA_REQUIRED: whether a user of this role must have a second factor. */
  mfaRequiredFor(role: Role): boolean {
    return mfaRequiredFor(this.config.mfaRequired, role);
  }

  /**
   * Changing factors needs a recent authentication (REAUTH_MAX_AGE) and, once the user has a
   * factor, a session that proved one: otherwise an RFC 9470 step-up challenge naming both.
   */
  private requireAal2IfEnrolled(caller: Caller, factors: MfaFactor[]): void {
    const needed = factors.some(isActive) ? 'aal2' : 'aal1';
    const fresh = this.clock.now() - caller.authTime <= this.config.reauthMaxAge * 1000;
    if (!fresh || (needed === 'aal2' && caller.acr !== 'aal2')) throw ApiError.insufficientUserAuthentication(needed, this.config.reauthMaxAge);
  }
}

function emptyFactor(): Omit<MfaFactor, 'id' | 'userId' | 'type' | 'name' | 'createdAt'> {
  return {
    lastUsedAt: null,
    activatedAt: null,
    totpSecret: null,
    totpLastStep: null,
    credentialId: null,
    publicKey: null,
    signCount: null,
    transports: null,
    backupEligible: null,
    backedUp: null,
    aaguid: null,
    consecutiveFailures: 0,
    lockedAt: null,
  };
}

export { emptyFactor };
