import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import type { ClientContext } from '../common/client-context';
import { Db, DatabaseService } from '../database/database.service';
import { AuditInput, AuditService } from '../audit/audit.service';
import { RefreshTokenCodec, parseRefreshToken } from './refresh-token';
import { RevocationRegistry } from './revocation-registry';
import { RefreshRow, SessionScope, SessionsRepository } from './sessions.repository';
import { RevokeReason, Session } from './session.entity';

export interface DeviceInfo {
  deviceId?: string;
  deviceName?: string | null;
}

/** A session with the refresh token for its current chain link. */
export interface IssuedSession {
  sessionId: string;
  userId: string;
  deviceId: string;
  role: 'user' | 'admin';
  refreshToken: string;
  expiresAt: number;
}

export type RefreshOutcome = { ok: true; session: IssuedSession } | { ok: false; reason: 'invalid' | 'expired' | 'revoked' | 'reuse' };

export interface RevokeActor {
  actorId?: string | null;
  client?: ClientContext | null;
}

export interface Revoked {
  id: string;
  userId: string;
  reason: RevokeReason;
}

/**
 * Device sessions and their refresh chains: create, rotate, revoke, list. Knows nothing of HTTP.
 *
 * Methods that take a `db` run inside the caller's transaction and return what they revoked;
 * the caller announces it to the revocation registry after commit (announcing before a
 * rollback would lock a live session's access tokens out).
 */
@Injectable()
export class SessionsService {
  private readonly codec: RefreshTokenCodec;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly repository: SessionsRepository,
    private readonly registry: RevocationRegistry,
    private readonly audit: AuditService,
  ) {
    this.codec = new RefreshTokenCodec(config.refreshKeys);
  }

  /**
   * Opens a session for one device inside the caller's transaction: replaces the device's
   * previous session (device_relogin) and, past MAX_SESSIONS_PER_USER, revokes the least
   * recently used ones (session_limit). The user row is locked first, so concurrent logins
   * of one user cannot both slip under the limit.
   */
  async open(
    /** `passwordHash`: the hash the caller's password was checked against. */
    user: { id: string; role: 'user' | 'admin'; passwordHash: string },
    device: DeviceInfo,
    client: ClientContext,
    db: Db,
    now = Date.now(),
  ): Promise<{ session: IssuedSession; revoked: Revoked[] }> {
    // Re-checked under the lock: a disable or a password change that committed after the
    // caller checked the password still wins over this login.
    const standing = await this.repository.lockUser(user.id, db);
    if (!standing || standing.passwordHash !== user.passwordHash) throw ApiError.invalidCredentials();
    if (standing.disabledAt !== null) throw ApiError.accountDisabled();
    const deviceId = device.deviceId ?? uuidv7(now);
    const revoked: Revoked[] = [];

    const sameDevice = await this.repository.unrevokedIds({ userId: user.id, deviceId }, db);
    revoked.push(...(await this.revokeRows(sameDevice, 'device_relogin', now, {}, db)));

    const overLimit = await this.repository.leastRecentlyUsedActive(user.id, now, this.config.maxSessionsPerUser - 1, db);
    revoked.push(...(await this.revokeRows(overLimit, 'session_limit', now, {}, db)));

    const session: Session = {
      id: uuidv7(now),
      userId: user.id,
      deviceId,
      deviceName: device.deviceName ?? null,
      userAgent: client.userAgent,
      ip: client.ip,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: now + this.config.refreshTokenTtl * 1000,
      idleExpiresAt: now + Math.min(this.config.refreshIdleTtl, this.config.refreshTokenTtl) * 1000,
      generation: 0,
      rotatedAt: null,
      salt: randomBytes(16).toString('base64url'),
      revokedAt: null,
      revokedReason: null,
    };
    await this.repository.insert(session, db);
    return {
      session: {
        sessionId: session.id,
        userId: user.id,
        deviceId,
        role: user.role,
        refreshToken: this.codec.issue(session.id, 0, session.salt),
        expiresAt: session.expiresAt,
      },
      revoked,
    };
  }

  /**
   * One refresh: authenticate the link (constant-time MAC, before anything else), then
   * compare-and-swap the chain forward. See DESIGN.md "Refresh token chain".
   */
  async refresh(token: string, client: ClientContext, now = Date.now()): Promise<RefreshOutcome> {
    const parts = parseRefreshToken(token);
    if (!parts) return { ok: false, reason: 'invalid' };
    let row = await this.repository.findForRefresh(parts.sessionId);
    // A forged or never-issued token stops here and changes nothing.
    if (!row || !this.codec.isAuthentic(parts, row.salt)) return { ok: false, reason: 'invalid' };

    for (let attempt = 0; attempt < 3; attempt++) {
      if (row.revokedAt !== null || row.disabledAt !== null) return { ok: false, reason: 'revoked' };
      if (now >= row.expiresAt || now >= row.idleExpiresAt) return { ok: false, reason: 'expired' };

      const g = parts.generation;
      if (g === row.generation) {
        const idleExpiresAt = Math.min(now + this.config.refreshIdleTtl * 1000, row.expiresAt);
        if (await this.repository.rotate(row.id, g, now, idleExpiresAt)) return { ok: true, session: this.issued(row, g + 1) };
        // Lost the race to a concurrent refresh with the same token: re-read and let the
        // grace rule below decide, exactly as if this request had arrived a moment later.
        const fresh = await this.repository.findForRefresh(row.id);
        if (!fresh) return { ok: false, reason: 'revoked' };
        row = fresh;
        continue;
      }
      const inGrace = g === row.generation - 1 && row.rotatedAt !== null && now - row.rotatedAt <= this.config.refreshReuseGrace * 1000;
      // Idempotent inside the grace window: the same next link the winner got.
      if (inGrace) return { ok: true, session: this.issued(row, row.generation) };
      if (g < row.generation) {
        await this.revokeForReuse(row, g, client, now);
        return { ok: false, reason: 'reuse' };
      }
      // An authentic link from the future cannot exist: we only sign g+1 after the swap.
      return { ok: false, reason: 'invalid' };
    }
    return { ok: false, reason: 'invalid' };
  }

  /** The session a refresh token belongs to, if it is authentic and still usable (RFC 7009 revocation). */
  async sessionOfToken(token: string): Promise<{ id: string; userId: string } | null> {
    const parts = parseRefreshToken(token);
    if (!parts) return null;
    const row = await this.repository.findForRefresh(parts.sessionId);
    if (!row || !this.codec.isAuthentic(parts, row.salt) || row.revokedAt !== null) return null;
    return { id: row.id, userId: row.userId };
  }

  private issued(row: RefreshRow, generation: number): IssuedSession {
    return {
      sessionId: row.id,
      userId: row.userId,
      deviceId: row.deviceId,
      role: row.role,
      refreshToken: this.codec.issue(row.id, generation, row.salt),
      expiresAt: row.expiresAt,
    };
  }

  /** Theft response (oidc-provider style): a replayed, already rotated link kills the whole session. */
  private async revokeForReuse(row: RefreshRow, presented: number, client: ClientContext, now: number): Promise<void> {
    const revoked = await this.database.transaction(async (db) => {
      const rows = await this.repository.unrevokedIds({ sessionId: row.id }, db);
      const done = await this.revokeRows(rows, 'refresh_token_reuse', now, { client }, db);
      if (done.length) {
        await this.audit.record(
          {
            type: 'refresh_token_reuse',
            userId: row.userId,
            sessionId: row.id,
            client,
            details: { presentedGeneration: presented, currentGeneration: row.generation },
          },
          db,
        );
      }
      return done;
    });
    this.announce(revoked, now);
  }

  /**
   * Revokes the sessions in scope in one ownership-checked statement set and records a
   * `session_revoked` event for each. Pass `db` to join an outer transaction (and announce later).
   */
  async revoke(scope: SessionScope & { userId: string }, reason: RevokeReason, actor: RevokeActor, db?: Db): Promise<Revoked[]> {
    if (db) return this.revokeRows(await this.repository.unrevokedIds(scope, db), reason, Date.now(), actor, db);
    return this.revokeNow(scope, reason, actor);
  }

  /** Revokes one session whoever owns it (admin), reporting its owner; null when there was none to revoke. */
  async revokeById(sessionId: string, reason: RevokeReason, actor: RevokeActor): Promise<Revoked | null> {
    return (await this.revokeNow({ sessionId }, reason, actor))[0] ?? null;
  }

  /** Its own transaction, then announced to the registry once committed. */
  private async revokeNow(scope: SessionScope, reason: RevokeReason, actor: RevokeActor): Promise<Revoked[]> {
    const now = Date.now();
    const revoked = await this.database.transaction(async (tx) => this.revokeRows(await this.repository.unrevokedIds(scope, tx), reason, now, actor, tx));
    this.announce(revoked, now);
    return revoked;
  }

  private async revokeRows(rows: Array<{ id: string; userId: string }>, reason: RevokeReason, now: number, actor: RevokeActor, db: Db): Promise<Revoked[]> {
    if (rows.length === 0) return [];
    await this.repository.markRevoked(
      rows.map((r) => r.id),
      reason,
      now,
      db,
    );
    const events: AuditInput[] = rows.map((r) => ({
      type: 'session_revoked',
      userId: r.userId,
      sessionId: r.id,
      actorId: actor.actorId ?? null,
      client: actor.client ?? null,
      details: { reason },
    }));
    await this.audit.record(events, db);
    return rows.map((r) => ({ id: r.id, userId: r.userId, reason }));
  }

  /** After commit: make the revocations effective for access tokens here and on every instance. */
  announce(revoked: Array<{ id: string }>, at = Date.now()): void {
    this.registry.announce(
      revoked.map((r) => r.id),
      at,
    );
  }

  listForUser(userId: string, includeRevoked = false): Promise<Session[]> {
    return this.repository.listForUser(userId, { includeRevoked, now: Date.now() });
  }

  findById(id: string): Promise<Session | null> {
    return this.repository.findById(id);
  }
}
