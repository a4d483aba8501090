import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { annotateSession } from '../common/spans';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import type { Actor, ClientContext } from '../common/client-context';
import { Db, DatabaseService } from '../database/database.service';
import { MailOutbox } from '../mail/mail-outbox';
import { AuditService } from '../audit/audit.service';
import { LoginLockoutService } from '../rate-limit/login-lockout.service';
import { MetricsService } from '../metrics/metrics.service';
import type { LoginOutcomeLabel } from '../metrics/metrics.service';
import { PasswordService } from '../users/password.service';
import { UsersService } from '../users/users.service';
import { User } from '../users/user.entity';
import { DeviceHistory, IssuedSession, Revoked, SessionsService } from '../sessions/sessions.service';
import type { Session } from '../sessions/session.entity';
import { keyIsProven } from '../sessions/refresh-decision';
import { AccessTokensService } from './access-tokens.service';
import { DpopService, ProofRequest } from './dpop.service';
import type { Principal } from './jwt.strategy';
import type { LOGOUT_SCOPES } from './dto';
import { Assurance, isAcr, parseAmr, passwordOnly } from '../sessions/assurance';
import { MfaRequiredAnswer, MfaService } from '../mfa/mfa.service';
import { MfaChallenges } from '../mfa/mfa-challenges';
import { FactorsService } from '../mfa/factors.service';
import { TrustedDevices } from '../mfa/trusted-devices';
import type { SecondFactorMethodName } from '../mfa/second-factor-methods';

/** RFC 6749 §5.1 token response, plus the session and device it belongs to. */
export interface TokenResponse {
  access_token: string;
  /** `DPoP` for a session bound to a key (RFC 9449 §5): present its access tokens with that scheme. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in: number;
  session_id: string;
  device_id: string;
}

export interface LoginInput {
  email: string;
  password: string;
  deviceId?: string;
  deviceName?: string;
  /** The refresh cookie the browser sent with the login, if any: proof that it holds its device's live session. */
  refreshCookie?: string;
  useCookie?: boolean;
  /** A token from an earlier `trustDevice: true` on this device: the second step is skipped (the session stays aal1). */
  trustedDevice?: string;
}

/** A login's outcome: a session, or (an active second factor) the step still due. */
export type LoginOutcome = { tokens: TokenResponse; user: User; trustedDevice?: TrustedDeviceGrant } | { mfa: MfaRequiredAnswer };

/** A fresh "remember this device" token (rotated at each use) and how long it lives, in seconds. */
export interface TrustedDeviceGrant {
  token: string;
  maxAge: number;
}

/** The second step of a login: POST /auth/mfa/verify. */
export interface MfaVerifyInput {
  mfaToken: string;
  method: SecondFactorMethodName;
  code?: string;
  credential?: unknown;
  trustDevice?: boolean;
  /** The refresh cookie the browser sent with the second step (it is scoped to /auth), as at login. */
  refreshCookie?: string;
}

export type LogoutScope = (typeof LOGOUT_SCOPES)[number];

/** Proof of presence without the password (AuthService.reauthenticate): an authentication within REAUTH_MAX_AGE. */
export const RECENT_AUTHENTICATION = Symbol('recent authentication');

/** Orchestrates users and sessions into logins, refreshes, logouts and password changes, and turns their outcomes into HTTP errors. */
@Injectable()
export class AuthService {
  constructor(
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly sessions: SessionsService,
    private readonly accessTokens: AccessTokensService,
    private readonly audit: AuditService,
    private readonly lockout: LoginLockoutService,
    private readonly metrics: MetricsService,
    private readonly mail: MailOutbox,
    private readonly dpop: DpopService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly mfa: MfaService,
    private readonly mfaChallenges: MfaChallenges,
    private readonly factors: FactorsService,
    private readonly trustedDevices: TrustedDevices,
  ) {}

  /**
   * Unknown e-mail and wrong password cost the same (a full argon2 verify against a dummy
   * hash) and answer the same. A disabled account is told so only after a correct password.
   */
  async login(input: LoginInput, client: ClientContext, proof: ProofRequest, hangUp?: AbortSignal): Promise<LoginOutcome> {
    try {
      const result = await this.checkAndOpen(input, client, await this.dpop.loginKey(proof), hangUp);
      this.metrics.logins.inc({ outcome: 'success' });
      return result;
    } catch (error) {
      this.metrics.logins.inc({ outcome: loginOutcome(error) });
      throw error;
    }
  }

  /** `dpopJkt`: the key the login's DPoP proof was signed with; the new session is bound to it. */
  private async checkAndOpen(input: LoginInput, client: ClientContext, dpopJkt: string | null, hangUp?: AbortSignal): Promise<LoginOutcome> {
    const user = await this.users.findForLogin(input.email);
    // LOGIN_LOCKOUT, the same for known and unknown addresses, counted once hashing is granted;
    // a locked address never reaches argon2.
    const ok = await this.passwords.verify(user?.passwordHash, input.password, () => this.lockout.attempt(input.email, user?.id ?? null, client), hangUp);
    if (!user || !ok) {
      await this.audit.record({ type: 'login_failed', userId: user?.id ?? null, client, details: { reason: user ? 'wrong_password' : 'unknown_user' } });
      throw ApiError.invalidCredentials();
    }
    await this.admit(user, client);
    // Owed after "this wasn't me" by the password alone: a passkey sign-in proves what the intruder lacked.
    if (user.passwordResetRequiredAt !== null) {
      await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'password_reset_required' } });
      throw PASSWORD_RESET_REQUIRED();
    }
    await this.lockout.clear(input.email);
    // A second factor is due: no session and no token yet, unless this device is trusted.
    const trusted = input.trustedDevice !== undefined && (await this.trustedDeviceLogin(user, input));
    if (!trusted) {
      const mfa = await this.mfa.loginStep(user.id, { deviceId: input.deviceId, deviceName: input.deviceName, useCookie: input.useCookie, dpopJkt }, client);
      if (mfa) return { mfa };
    }
    const result = await this.openSession(user, input, dpopJkt, client, passwordOnly(this.clock.now()), await this.enrollmentRequired(user));
    return trusted ? { ...result, trustedDevice: trusted } : result;
  }

  /**
   * Whether an authenticated user may have a session: a disabled account is told so (only now,
   * after a correct password or passkey), an unverified one under REQUIRE_EMAIL_VERIFICATION
   * too, with a fresh link.
   */
  private async admit(user: User, client: ClientContext): Promise<void> {
    if (user.disabledAt !== null) {
      await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'account_disabled' } });
      throw ApiError.accountDisabled();
    }
    if (this.config.requireEmailVerification && user.emailVerifiedAt === null) {
      // The one way back in for someone whose first link expired or got lost: a fresh one.
      await this.database.transaction(async (db) => {
        await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'email_unverified' } }, db);
        await this.mail.enqueue({ kind: 'email_verification', userId: user.id, data: { origin: 'login' } }, db);
      });
      throw ApiError.emailUnverified();
    }
  }

  /**
   * Password-less sign-in (POST /auth/passkey/login): a user-verified passkey alone, then the
   * same admission and session opening as a password login (device, DPoP key, new-device
   * alert), at `aal2`.
   */
  async passkeyLogin(
    input: { credential: unknown; deviceId?: string; deviceName?: string; refreshCookie?: string },
    client: ClientContext,
    proof: ProofRequest,
  ): Promise<{ tokens: TokenResponse; user: User }> {
    try {
      const dpopJkt = await this.dpop.loginKey(proof);
      const { userId, assurance } = await this.mfa.verifyPasswordless(input.credential, client);
      const user = await this.users.findById(userId);
      if (!user) throw ApiError.invalidSecondFactor();
      const result = await this.completeLogin(user, input, dpopJkt, client, assurance);
      this.metrics.logins.inc({ outcome: 'success' });
      return result;
    } catch (error) {
      this.metrics.logins.inc({ outcome: loginOutcome(error) });
      throw error;
    }
  }

  /**
   * Opens the session of a complete login (a password, and the second factor when one was
   * due), in one transaction under the user's row lock.
   */
  private async openSession(
    user: User,
    input: Pick<LoginInput, 'deviceId' | 'deviceName' | 'refreshCookie'>,
    dpopJkt: string | null,
    client: ClientContext,
    assurance: Assurance,
    mfaEnrollmentRequired: boolean,
    inTransaction?: (db: Db) => Promise<void>,
  ): Promise<{ tokens: TokenResponse; user: User }> {
    const now = this.clock.now();
    const cookieSession = input.refreshCookie === undefined ? null : await this.sessions.inspect(input.refreshCookie);
    const heldSessionId = cookieSession?.authentic && (cookieSession.state === 'rotate' || cookieSession.state === 'grace') ? cookieSession.session.id : null;
    const session = await this.database.transaction(async (db) => {
      await inTransaction?.(db);
      // Re-checked under the user's row lock: a disable or a password change that committed
      // after the password was checked above still wins over this login.
      const standing = await this.users.lock(user.id, db);
      if (!standing || standing.passwordHash !== user.passwordHash) throw ApiError.invalidCredentials();
      if (standing.disabledAt !== null) throw ApiError.accountDisabled();
      // A "this wasn't me" report owes a new password before the password signs in again; a
      // passkey sign-in proves something the intruder did not have.
      if (standing.passwordResetRequiredAt !== null && assurance.amr.includes('pwd')) throw PASSWORD_RESET_REQUIRED();
      const device = input.deviceId === undefined ? null : await this.sessions.deviceHistory(user.id, input.deviceId, db);
      const alert = loginAlert(device, dpopJkt, heldSessionId);
      const opened = await this.sessions.open(
        user,
        { deviceId: input.deviceId, deviceName: input.deviceName, dpopJkt, assurance, mfaEnrollmentRequired },
        client,
        db,
      );
      await this.users.recordLogin(user.id, now, db);
      await this.audit.record({ type: 'login_succeeded', userId: user.id, sessionId: opened.sessionId, client, details: { deviceId: opened.deviceId } }, db);
      // The alert people find a theft by, on an account that has signed in before: a device it has
      // never used, or one whose live session this login takes over without showing it holds it.
      if (alert && user.lastLoginAt !== null) {
        const data = {
          sessionId: opened.sessionId,
          deviceName: input.deviceName ?? null,
          userAgent: client.userAgent,
          ip: client.ip,
          at: now,
          ...(alert === 'takeover' ? { takeover: true } : {}),
        };
        await this.mail.enqueue({ kind: 'new_device', userId: user.id, data }, db);
      }
      return opened;
    });
    user.lastLoginAt = now;
    return { tokens: this.tokenResponse(session), user };
  }

  /**
   * The second step of a login (POST /auth/mfa/verify): the factor, then the session the login
   * asked for (device, cookie mode, DPoP key: a bound login's second step must prove the same
   * key). The mfaToken is consumed in the transaction that opens the session: of two concurrent
   * second steps, exactly one opens a session.
   */
  async completeMfa(
    input: MfaVerifyInput,
    client: ClientContext,
    proof: ProofRequest,
  ): Promise<{ tokens: TokenResponse; user: User; useCookie: boolean; trustedDevice?: TrustedDeviceGrant }> {
    const provenJkt = await this.dpop.loginKey(proof);
    const { challenge, assurance } = await this.mfa.verifyLogin(input.mfaToken, input.method, { code: input.code, credential: input.credential }, client);
    if (challenge.dpopJkt !== null && challenge.dpopJkt !== provenJkt)
      throw ApiError.invalidDpopProof(400, 'This sign-in began with a DPoP proof: finish it with a proof by the same key.');
    const user = await this.users.findById(challenge.userId);
    if (!user) throw ApiError.invalidMfaToken();
    let consumed = false;
    let trustedDevice: TrustedDeviceGrant | undefined;
    const device = { deviceId: challenge.deviceId ?? undefined, deviceName: challenge.deviceName ?? undefined, refreshCookie: input.refreshCookie };
    const opened = await this.openSession(user, device, challenge.dpopJkt, client, assurance, false, async (db) => {
      consumed = await this.mfaChallenges.consume(challenge, db);
      if (!consumed) throw ApiError.invalidMfaToken();
    });
    if (input.trustDevice === true) trustedDevice = (await this.trustedDevices.issue(user.id, opened.tokens.device_id)) ?? undefined;
    return { ...opened, useCookie: challenge.useCookie, ...(trustedDevice ? { trustedDevice } : {}) };
  }

  /**
   * A login that needs no second step because it already proved enough (a user-verified
   * passkey, API.md "Passkey sign-in"): the session, as a login opens it, with that assurance.
   */
  async completeLogin(
    user: User,
    device: Pick<LoginInput, 'deviceId' | 'deviceName' | 'refreshCookie'>,
    dpopJkt: string | null,
    client: ClientContext,
    assurance: Assurance,
  ): Promise<{ tokens: TokenResponse; user: User }> {
    await this.admit(user, client);
    return this.openSession(user, device, dpopJkt, client, assurance, await this.enrollmentRequired(user));
  }

  /** A trusted-device token presented at login: used up (and replaced) when it is this user's for this device. */
  private async trustedDeviceLogin(user: User, input: LoginInput): Promise<TrustedDeviceGrant | null> {
    const redeemed = await this.database.transaction((db) => this.trustedDevices.redeem(input.trustedDevice, user.id, input.deviceId, db));
    if (!redeemed || input.deviceId === undefined) return null;
    return this.trustedDevices.issue(user.id, input.deviceId);
  }

  /** MFA_REQUIRED covers this user and they have no factor yet: their session may only enrol one. */
  private async enrollmentRequired(user: User): Promise<boolean> {
    return this.factors.mfaRequiredFor(user.role) && !(await this.mfa.hasActiveFactor(user.id));
  }

  /**
   * RFC 9470 step-up (POST /me/step-up): a second factor (or the password, for a user without
   * one) raises the caller's session; the answer is a token response for the same session on a
   * new link of its chain, and no link from before can mint the raised assurance.
   */
  async stepUp(
    principal: Principal,
    input: { method: SecondFactorMethodName | 'password'; code?: string; credential?: unknown; password?: string },
    client: ClientContext,
  ): Promise<TokenResponse> {
    let assurance: Assurance;
    if (input.method === 'password') {
      const user = await this.users.findById(principal.userId);
      if (!user) throw ApiError.invalidToken(true);
      if (await this.mfa.hasActiveFactor(user.id)) throw ApiError.validation([{ field: 'method', message: 'this account steps up with its second factor' }]);
      if (input.password === undefined) throw ApiError.validation([{ field: 'password', message: 'password is required for method password' }]);
      if (!(await this.passwords.verify(user.passwordHash, input.password, () => this.lockout.attempt(user.email, user.id, client))))
        throw ApiError.invalidCredentials();
      await this.lockout.clear(user.email);
      assurance = passwordOnly(this.clock.now());
    } else {
      assurance = await this.mfa.verifyStepUp(principal, input.method, { code: input.code, credential: input.credential }, client);
    }
    const session = await this.sessions.raiseAssurance(principal.userId, principal.sessionId, assurance, { rotate: true });
    if (!session) throw ApiError.invalidToken(true);
    await this.audit.record({
      type: 'step_up_succeeded',
      userId: principal.userId,
      sessionId: principal.sessionId,
      actorId: principal.userId,
      client,
      details: { method: input.method, acr: assurance.acr },
    });
    return this.tokenResponse(session);
  }

  /**
   * RFC 6749 §6. Every failure is the same `invalid_grant` to the client, but one: a bound
   * session refreshed without a proof by its key (RFC 9449 §5), which changes nothing.
   */
  async refresh(refreshToken: string, client: ClientContext, proof: ProofRequest): Promise<TokenResponse> {
    const proven = await this.dpop.tokenRequestProof(proof);
    const outcome = await this.sessions.refresh(refreshToken, client, proven?.jkt ?? null, proven ? () => this.dpop.spend(proven) : undefined);
    if (!outcome.ok && outcome.reason === 'unproven_key')
      throw ApiError.invalidDpopProof(400, 'This session is bound to a DPoP key: send a DPoP proof signed by it.');
    if (!outcome.ok) throw ApiError.oauth('invalid_grant', 'The refresh token is invalid, expired or revoked.');
    return this.tokenResponse(outcome.session);
  }

  /**
   * RFC 7009: revokes the session of an authentic refresh token; silent about anything else. A
   * DPoP-bound session's token needs a proof by its key here too: a copied token must not be a
   * way to sign its owner out.
   */
  async revokeRefreshToken(token: string, client: ClientContext, proof?: ProofRequest): Promise<void> {
    const inspection = await this.sessions.inspect(token);
    if (!inspection.authentic) return;
    const proven = inspection.session.dpopJkt === null || proof === undefined ? null : await this.dpop.tokenRequestProof(proof);
    if (!keyIsProven(inspection.session.dpopJkt, proven?.jkt ?? null)) return;
    if (proven) await this.dpop.spend(proven);
    const { id, userId } = inspection.session;
    await this.sessions.revoke({ userId, sessionId: id }, 'user_logout', { actorId: userId, client });
  }

  /** DELETE /me/sessions/:id: that device is signed out, and no longer trusted to skip the second step. */
  async revokeOwnSession(principal: Principal, sessionId: string, client: ClientContext): Promise<void> {
    await this.database.transaction(async (db) => {
      const revoked = await this.sessions.revoke({ userId: principal.userId, sessionId }, 'user_revoked', { actorId: principal.userId, client }, db);
      if (revoked.length === 0) throw ApiError.notFound('No such session.');
      const deviceId = await this.sessions.deviceOf(principal.userId, sessionId, db);
      if (deviceId !== null) await this.trustedDevices.forgetDevice(principal.userId, deviceId, db);
    });
  }

  async logout(principal: Principal, scope: LogoutScope, client: ClientContext): Promise<void> {
    const mine = { userId: principal.userId };
    const which = scope === 'local' ? { ...mine, sessionId: principal.sessionId } : scope === 'others' ? { ...mine, excludeId: principal.sessionId } : mine;
    await this.sessions.revoke(which, 'user_logout', { actorId: principal.userId, client });
  }

  /**
   * The step-up rule of a change to what controls the account (PUT /me/password, POST /me/email,
   * DELETE /me), checked before anything changes: a live session, no reset owed after "this
   * wasn't me" (`resetOwed` is the 403 that says so), `aal2` once the account has a second factor
   * (the password alone, a stolen one say, cannot hand the account over), then proof of presence:
   * the current password, counted by LOGIN_LOCKOUT (a stolen access token must not become an
   * unthrottled password oracle), or, where a route lets the password be left out
   * (RECENT_AUTHENTICATION), an authentication within REAUTH_MAX_AGE (a step-up just made).
   * Returns the user and the caller's session as checked.
   */
  async reauthenticate(
    principal: Principal,
    proof: string | typeof RECENT_AUTHENTICATION,
    client: ClientContext,
    resetOwed: () => ApiError = RESET_OWED,
  ): Promise<{ user: User; current: Session }> {
    const user = await this.users.findById(principal.userId);
    // Causal: the caller's session may have been opened a moment ago on another database node.
    const current = await this.sessions.findById(principal.sessionId, true);
    if (!user || !current || current.revokedAt !== null) throw ApiError.invalidToken(true);
    if (user.passwordResetRequiredAt !== null) throw resetOwed();
    // With a second factor on the account, the password alone (a stolen one, say) cannot replace itself.
    await this.mfa.requireAal2IfEnrolled(principal);
    if (proof === RECENT_AUTHENTICATION) {
      if (this.clock.now() - principal.authTime > this.config.reauthMaxAge * 1000)
        throw ApiError.insufficientUserAuthentication(principal.acr, this.config.reauthMaxAge, principal.dpopJkt ? 'DPoP' : 'Bearer');
      return { user, current };
    }
    // A stolen access token must not become an unthrottled password oracle.
    if (!(await this.passwords.verify(user.passwordHash, proof, () => this.lockout.attempt(user.email, user.id, client)))) throw ApiError.invalidCredentials();
    await this.lockout.clear(user.email);
    return { user, current };
  }

  /**
   * One transaction: the new hash, every session of the user revoked (password_changed), and a
   * fresh session for the caller's device. So either nothing changed, or the password changed
   * and no old refresh or access token of any device works any more.
   */
  async changePassword(principal: Principal, currentPassword: string, newPassword: string, client: ClientContext): Promise<TokenResponse> {
    const { user, current } = await this.reauthenticate(principal, currentPassword, client);
    const newHash = await this.passwords.hash(newPassword);
    const actor = { actorId: user.id, client };
    const session = await this.database.transaction(async (db) => {
      // Again under the row lock a report takes: one that committed during the checks above wins.
      const standing = await this.users.lock(user.id, db);
      if (!standing) throw ApiError.invalidToken(true);
      if (standing.passwordResetRequiredAt !== null) throw RESET_OWED();
      const revoked = await this.replacePassword(user, newHash, 'password_changed', actor, db);
      if (!revoked) throw ApiError.invalidCredentials();
      // The caller's device keeps its key: a bound session is replaced by one bound to the same key.
      // …and its assurance: a password change is no second factor, nor does it undo one.
      const assurance = {
        acr: isAcr(current.acr) ? current.acr : 'aal1',
        amr: parseAmr(current.amr),
        authTime: current.authTime ?? current.createdAt,
      } as const;
      const opened = await this.sessions.open(
        user,
        {
          deviceId: current.deviceId,
          deviceName: current.deviceName,
          dpopJkt: current.dpopJkt,
          assurance: { ...assurance },
          mfaEnrollmentRequired: current.mfaEnrollmentRequired,
        },
        client,
        db,
      );
      await this.audit.record(
        { type: 'password_changed', userId: user.id, sessionId: opened.sessionId, ...actor, details: { revokedSessions: revoked.length } },
        db,
      );
      return opened;
    });
    return this.tokenResponse(session);
  }

  /**
   * The one way a password is replaced (a change, a reset), inside the caller's transaction: a
   * compare-and-swap on the hash it was checked against, which also takes the user's row lock
   * that logins wait for, then every session of the user revoked, so their access tokens stop
   * at once here and, through the revocation feed, at every resource server. Null when another
   * change of the password won the race.
   */
  async replacePassword(
    user: { id: string; passwordHash: string },
    newHash: string,
    reason: 'password_changed' | 'password_reset',
    actor: Actor,
    db: Db,
    at = this.clock.now(),
  ): Promise<Revoked[] | null> {
    if (!(await this.users.setPasswordHash(user.id, user.passwordHash, newHash, at, db))) return null;
    // A remembered device was remembered for the old password, and a pending second step was opened by it.
    await this.trustedDevices.forgetUser(user.id, db);
    await this.mfaChallenges.endForUser(user.id, db);
    return this.sessions.revoke({ userId: user.id }, reason, actor, db);
  }

  private tokenResponse(session: IssuedSession): TokenResponse {
    // Login, second step, step-up and refresh: the request's span learns whose session it served.
    annotateSession(session.sessionId, session.userId);
    const access = this.accessTokens.issue(session, session.issuedAt);
    return {
      access_token: access.token,
      token_type: session.dpopJkt ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: session.refreshToken,
      // The absolute lifetime left; each use also slides the idle window (REFRESH_IDLE_TTL).
      refresh_token_expires_in: Math.max(0, Math.floor((session.expiresAt - session.issuedAt) / 1000)),
      session_id: session.sessionId,
      device_id: session.deviceId,
    };
  }
}

const PASSWORD_RESET_REQUIRED = () =>
  ApiError.forbidden(
    'This account must set a new password before signing in with one: use the link in the e-mail it was sent, or ask for a new one ("forgot password").',
  );

/**
 * A reset is owed after "this wasn't me": whoever signed in knows the password, and may hold a
 * session from before the report, so only the mailed link (proof of the mailbox) settles it.
 */
const RESET_OWED = () =>
  ApiError.forbidden(
    'This account must set a new password through the link in the e-mail it was sent (or a new one: "forgot password"); it cannot be changed here until then.',
  );

/**
 * Whether a login warrants the new-device alert: a device id the user has never used (or one
 * that was reported), or a takeover: the device has a live session and the login does not show
 * that it holds it. A device id is no secret (any session of the account lists them), so an
 * intruder with the password can present the victim's; the device's own client can show more:
 * the same DPoP key as its bound session (non-extractable in @latchkey/client), or, for an
 * unbound session, its current refresh token in the cookie that browsers send to /auth. A
 * client that can show neither (tokens kept in memory only) is told of its own re-login: an
 * extra mail is the price of not letting a takeover pass in silence.
 */
function loginAlert(device: DeviceHistory | null, dpopJkt: string | null, heldSessionId: string | null): 'new_device' | 'takeover' | null {
  if (device === null || !device.seen) return 'new_device';
  const live = device.live;
  if (live === null) return null;
  const held = live.dpopJkt !== null ? live.dpopJkt === dpopJkt : live.id === heldSessionId;
  return held ? null : 'takeover';
}

/** The metric label of a failed login: the error's code, from a fixed set. */
const LOGIN_FAILURES = new Map<string, LoginOutcomeLabel>([
  ['invalid_credentials', 'invalid_credentials'],
  ['account_disabled', 'account_disabled'],
  ['email_unverified', 'email_unverified'],
  ['too_many_requests', 'rate_limited'],
  ['service_unavailable', 'unavailable'],
]);

function loginOutcome(error: unknown): LoginOutcomeLabel {
  return (error instanceof ApiError && LOGIN_FAILURES.get(error.code)) || 'error';
}
