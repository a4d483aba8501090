import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
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
import { keyIsProven } from '../sessions/refresh-decision';
import { AccessTokensService } from './access-tokens.service';
import { DpopService, ProofRequest } from './dpop.service';
import type { Principal } from './jwt.strategy';
import type { LOGOUT_SCOPES } from './dto';

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
}

export type LogoutScope = (typeof LOGOUT_SCOPES)[number];

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
  ) {}

  /**
   * Unknown e-mail and wrong password cost the same (a full argon2 verify against a dummy
   * hash) and answer the same. A disabled account is told so only after a correct password.
   */
  async login(input: LoginInput, client: ClientContext, proof: ProofRequest, hangUp?: AbortSignal): Promise<{ tokens: TokenResponse; user: User }> {
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
  private async checkAndOpen(input: LoginInput, client: ClientContext, dpopJkt: string | null, hangUp?: AbortSignal): Promise<{ tokens: TokenResponse; user: User }> {
    const user = await this.users.findForLogin(input.email);
    // LOGIN_LOCKOUT, the same for known and unknown addresses, counted once hashing is granted;
    // a locked address never reaches argon2.
    const ok = await this.passwords.verify(user?.passwordHash, input.password, () => this.lockout.attempt(input.email, user?.id ?? null, client), hangUp);
    if (!user || !ok) {
      await this.audit.record({ type: 'login_failed', userId: user?.id ?? null, client, details: { reason: user ? 'wrong_password' : 'unknown_user' } });
      throw ApiError.invalidCredentials();
    }
    if (user.disabledAt !== null) {
      await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'account_disabled' } });
      throw ApiError.accountDisabled();
    }
    if (user.passwordResetRequiredAt !== null) {
      await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'password_reset_required' } });
      throw PASSWORD_RESET_REQUIRED();
    }
    if (this.config.requireEmailVerification && user.emailVerifiedAt === null) {
      // The one way back in for someone whose first link expired or got lost: a fresh one.
      await this.database.transaction(async (db) => {
        await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'email_unverified' } }, db);
        await this.mail.enqueue({ kind: 'email_verification', userId: user.id, data: { origin: 'login' } }, db);
      });
      throw ApiError.emailUnverified();
    }
    await this.lockout.clear(input.email);
    const now = this.clock.now();
    const cookieSession = input.refreshCookie === undefined ? null : await this.sessions.inspect(input.refreshCookie);
    const heldSessionId = cookieSession?.authentic && (cookieSession.state === 'rotate' || cookieSession.state === 'grace') ? cookieSession.session.id : null;
    const session = await this.database.transaction(async (db) => {
      // Re-checked under the user's row lock: a disable or a password change that committed
      // after the password was checked above still wins over this login.
      const standing = await this.users.lock(user.id, db);
      if (!standing || standing.passwordHash !== user.passwordHash) throw ApiError.invalidCredentials();
      if (standing.disabledAt !== null) throw ApiError.accountDisabled();
      if (standing.passwordResetRequiredAt !== null) throw PASSWORD_RESET_REQUIRED();
      const device = input.deviceId === undefined ? null : await this.sessions.deviceHistory(user.id, input.deviceId, db);
      const alert = loginAlert(device, dpopJkt, heldSessionId);
      const opened = await this.sessions.open(user, { deviceId: input.deviceId, deviceName: input.deviceName, dpopJkt }, client, db);
      await this.users.recordLogin(user.id, now, db);
      await this.audit.record({ type: 'login_succeeded', userId: user.id, sessionId: opened.sessionId, client, details: { deviceId: opened.deviceId } }, db);
      // The alert people find a theft by, on an account that has signed in before: a device it has
      // never used, or one whose live session this login takes over without showing it holds it.
      if (alert && user.lastLoginAt !== null) {
        const data = { sessionId: opened.sessionId, deviceName: input.deviceName ?? null, userAgent: client.userAgent, ip: client.ip, at: now, ...(alert === 'takeover' ? { takeover: true } : {}) };
        await this.mail.enqueue({ kind: 'new_device', userId: user.id, data }, db);
      }
      return opened;
    });
    user.lastLoginAt = now;
    return { tokens: this.tokenResponse(session), user };
  }

  /**
   * RFC 6749 §6. Every failure is the same `invalid_grant` to the client, but one: a bound
   * session refreshed without a proof by its key (RFC 9449 §5), which changes nothing.
   */
  async refresh(refreshToken: string, client: ClientContext, proof: ProofRequest): Promise<TokenResponse> {
    const proven = await this.dpop.tokenRequestProof(proof);
    const outcome = await this.sessions.refresh(refreshToken, client, proven?.jkt ?? null, proven ? () => this.dpop.spend(proven) : undefined);
    if (!outcome.ok && outcome.reason === 'unproven_key') throw ApiError.invalidDpopProof(400, 'This session is bound to a DPoP key: send a DPoP proof signed by it.');
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

  async logout(principal: Principal, scope: LogoutScope, client: ClientContext): Promise<void> {
    const mine = { userId: principal.userId };
    const which = scope === 'local' ? { ...mine, sessionId: principal.sessionId } : scope === 'others' ? { ...mine, excludeId: principal.sessionId } : mine;
    await this.sessions.revoke(which, 'user_logout', { actorId: principal.userId, client });
  }

  /**
   * One transaction: the new hash, every session of the user revoked (password_changed), and a
   * fresh session for the caller's device. So either nothing changed, or the password changed
   * and no old refresh or access token of any device works any more.
   */
  async changePassword(principal: Principal, currentPassword: string, newPassword: string, client: ClientContext): Promise<TokenResponse> {
    const user = await this.users.findById(principal.userId);
    // Causal: the caller's session may have been opened a moment ago on another database node.
    const current = await this.sessions.findById(principal.sessionId, true);
    if (!user || !current || current.revokedAt !== null) throw ApiError.invalidToken(true);
    // A stolen access token must not become an unthrottled password oracle.
    if (!(await this.passwords.verify(user.passwordHash, currentPassword, () => this.lockout.attempt(user.email, user.id, client)))) throw ApiError.invalidCredentials();
    await this.lockout.clear(user.email);
    const newHash = await this.passwords.hash(newPassword);
    const actor = { actorId: user.id, client };
    const session = await this.database.transaction(async (db) => {
      const revoked = await this.replacePassword(user, newHash, 'password_changed', actor, db);
      if (!revoked) throw ApiError.invalidCredentials();
      // The caller's device keeps its key: a bound session is replaced by one bound to the same key.
      const opened = await this.sessions.open(user, { deviceId: current.deviceId, deviceName: current.deviceName, dpopJkt: current.dpopJkt }, client, db);
      await this.audit.record({ type: 'password_changed', userId: user.id, sessionId: opened.sessionId, ...actor, details: { revokedSessions: revoked.length } }, db);
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
  async replacePassword(user: { id: string; passwordHash: string }, newHash: string, reason: 'password_changed' | 'password_reset', actor: Actor, db: Db, at = this.clock.now()): Promise<Revoked[] | null> {
    if (!(await this.users.setPasswordHash(user.id, user.passwordHash, newHash, at, db))) return null;
    return this.sessions.revoke({ userId: user.id }, reason, actor, db);
  }

  private tokenResponse(session: IssuedSession): TokenResponse {
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
  ApiError.forbidden('This account must set a new password before signing in with one: use the link in the e-mail it was sent, or ask for a new one ("forgot password").');

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
