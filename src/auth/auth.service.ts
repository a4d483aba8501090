import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { PasswordService } from '../users/password.service';
import { UsersService } from '../users/users.service';
import { User } from '../users/user.entity';
import { IssuedSession, SessionsService } from '../sessions/sessions.service';
import { AccessTokensService } from './access-tokens.service';
import type { Principal } from './jwt.strategy';
import { LoginLockoutService } from './login-lockout.service';

/** RFC 6749 §5.1 token response, plus the session and device it belongs to. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
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
}

export type LogoutScope = 'local' | 'others' | 'global';

/** Orchestrates users and sessions into logins, refreshes, logouts and password changes. */
@Injectable()
export class AuthService {
  constructor(
    private readonly database: DatabaseService,
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly sessions: SessionsService,
    private readonly accessTokens: AccessTokensService,
    private readonly audit: AuditService,
    private readonly lockout: LoginLockoutService,
  ) {}

  /**
   * Unknown e-mail and wrong password cost the same (a full argon2 verify against a dummy
   * hash) and answer the same. A disabled account is told so only after a correct password.
   */
  async login(input: LoginInput, client: ClientContext): Promise<{ tokens: TokenResponse; user: User }> {
    const user = await this.users.findByEmail(input.email);
    // LOGIN_LOCKOUT, the same for known and unknown addresses; a locked one never reaches argon2.
    await this.lockout.attempt(input.email, user?.id ?? null, client);
    const ok = await this.passwords.verify(user?.passwordHash, input.password);
    if (!user || !ok) {
      await this.audit.record({ type: 'login_failed', userId: user?.id ?? null, client, details: { reason: user ? 'wrong_password' : 'unknown_user' } });
      throw ApiError.invalidCredentials();
    }
    if (user.disabledAt !== null) {
      await this.audit.record({ type: 'login_failed', userId: user.id, client, details: { reason: 'account_disabled' } });
      throw ApiError.accountDisabled();
    }
    await this.lockout.succeeded(input.email);
    const now = Date.now();
    const { session, revoked } = await this.database.transaction(async (db) => {
      const opened = await this.sessions.open(user, { deviceId: input.deviceId, deviceName: input.deviceName }, client, db, now);
      await this.users.recordLogin(user.id, now, db);
      await this.audit.record({ type: 'login_succeeded', userId: user.id, sessionId: opened.session.sessionId, client, details: { deviceId: opened.session.deviceId } }, db);
      return opened;
    });
    this.sessions.announce(revoked, now);
    user.lastLoginAt = now;
    return { tokens: this.tokenResponse(session, now), user };
  }

  /** RFC 6749 §6. Every failure is the same `invalid_grant` to the client. */
  async refresh(refreshToken: string, client: ClientContext): Promise<TokenResponse> {
    const now = Date.now();
    const outcome = await this.sessions.refresh(refreshToken, client, now);
    if (!outcome.ok) throw ApiError.oauth('invalid_grant', 'The refresh token is invalid, expired or revoked.');
    return this.tokenResponse(outcome.session, now);
  }

  /** RFC 7009: revokes the session of an authentic refresh token; silent about anything else. */
  async revokeRefreshToken(token: string, client: ClientContext): Promise<void> {
    const session = await this.sessions.sessionOfToken(token);
    if (session) await this.sessions.revoke({ userId: session.userId, sessionId: session.id }, 'user_logout', { actorId: session.userId, client });
  }

  async logout(principal: Principal, scope: LogoutScope, client: ClientContext): Promise<void> {
    const actor = { actorId: principal.userId, client };
    const base = { userId: principal.userId };
    if (scope === 'local') await this.sessions.revoke({ ...base, sessionId: principal.sessionId }, 'user_logout', actor);
    else if (scope === 'others') await this.sessions.revoke({ ...base, excludeId: principal.sessionId }, 'user_logout', actor);
    else await this.sessions.revoke(base, 'user_logout', actor);
  }

  /**
   * One transaction: the new hash, every session of the user revoked (password_changed), and a
   * fresh session for the caller's device. So either nothing changed, or the password changed
   * and no old refresh or access token of any device works any more.
   */
  async changePassword(principal: Principal, currentPassword: string, newPassword: string, client: ClientContext): Promise<TokenResponse> {
    const user = await this.users.findById(principal.userId);
    const current = await this.sessions.findById(principal.sessionId);
    if (!user || !current || current.revokedAt !== null) throw ApiError.invalidToken(true);
    // A stolen access token must not become an unthrottled password oracle.
    await this.lockout.attempt(user.email, user.id, client);
    if (!(await this.passwords.verify(user.passwordHash, currentPassword))) throw ApiError.invalidCredentials();
    await this.lockout.succeeded(user.email);
    const newHash = await this.passwords.hash(newPassword);
    const now = Date.now();
    const { session, revoked } = await this.database.transaction(async (db) => {
      if (!(await this.users.setPassword(user.id, user.passwordHash, newHash, now, db))) throw ApiError.invalidCredentials();
      const all = await this.sessions.revoke({ userId: user.id }, 'password_changed', { actorId: user.id, client }, db);
      const opened = await this.sessions.open({ ...user, passwordHash: newHash }, { deviceId: current.deviceId, deviceName: current.deviceName }, client, db, now);
      await this.audit.record({ type: 'password_changed', userId: user.id, sessionId: opened.session.sessionId, actorId: user.id, client, details: { revokedSessions: all.length } }, db);
      return { session: opened.session, revoked: [...all, ...opened.revoked] };
    });
    this.sessions.announce(revoked, now);
    return this.tokenResponse(session, now);
  }

  private tokenResponse(session: IssuedSession, now: number): TokenResponse {
    const access = this.accessTokens.issue(session);
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: session.refreshToken,
      // The absolute lifetime left; each use also slides the idle window (REFRESH_IDLE_TTL).
      refresh_token_expires_in: Math.max(0, Math.floor((session.expiresAt - now) / 1000)),
      session_id: session.sessionId,
      device_id: session.deviceId,
    };
  }
}
