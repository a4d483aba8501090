import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ReplayCache } from '@latchkey/verifier';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import type { Actor, ClientContext } from '../common/client-context';
import { mfaRequiredFor, Role } from '../common/role';
import { Db, DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { MetricsService } from '../metrics/metrics.service';
import { decideRefresh, keyIsProven, RefreshDecision } from './refresh-decision';
import { RefreshTokenCodec, RefreshTokenParts, parseRefreshToken } from './refresh-token';
import { RevocationLog } from './revocation-log';
import { RevocationRegistry } from './revocation-registry';
import { DeviceHistory, RefreshRow, SessionScope, SessionsRepository } from './sessions.repository';
import { RevokeReason, Session } from './session.entity';
import { Assurance, current, passwordOnly } from './assurance';

export type { DeviceHistory };

export interface DeviceInfo {
  deviceId?: string;
  deviceName?: string | null;
  /** The thumbprint of the DPoP key the login proved (RFC 9449): the session is bound to it. */
  dpopJkt?: string | null;
  /** How the login authenticated; a password alone when absent. */
  assurance?: Assurance;
  /** MFA_REQUIRED covers the user and they have no factor yet. */
  mfaEnrollmentRequired?: boolean;
}

/** A session with the refresh token for its current chain link. */
export interface IssuedSession {
  sessionId: string;
  userId: string;
  deviceId: string;
  role: Role;
  /** Set on a DPoP-bound session: its access tokens carry it as `cnf.jkt`. */
  dpopJkt: string | null;
  refreshToken: string;
  expiresAt: number;
  /** When this link was handed out (the access token and expires_in count from it). */
  issuedAt: number;
  /** The session's assurance as of now (an old `aal2` already lowered): its access tokens carry it. */
  assurance: Assurance;
  mfaEnrollmentRequired: boolean;
}

/** `rotated`: the chain moved on; otherwise the same next link again, within the grace window. */
export type RefreshOutcome =
  { ok: true; session: IssuedSession; rotated: boolean } | { ok: false; reason: 'invalid' | 'expired' | 'revoked' | 'reuse' | 'unproven_key' };

/** What a refresh token is, without using it (RFC 7009 revocation, RFC 7662 introspection). */
export type TokenInspection =
  | { authentic: false }
  | {
      authentic: true;
      state: RefreshDecision;
      session: { id: string; userId: string; role: Role; expiresAt: number; dpopJkt: string | null; assurance: Assurance; mfaEnrollmentRequired: boolean };
    };

export interface Revoked {
  id: string;
  userId: string;
  reason: RevokeReason;
}

/** Rotation attempts before giving up on a chain that keeps moving under us. */
const MAX_ROTATION_ATTEMPTS = 3;
/** At most one `invalid_dpop_proof` audit row per session in this window (per instance). */
const UNPROVEN_RECORD_INTERVAL_MS = 60_000;
/** Sessions remembered for that: past it the oldest is forgotten, which costs one more row, never a lost one. */
const UNPROVEN_RECORDED_CAPACITY = 10_000;

/**
 * Device sessions and their refresh chains: open, rotate, revoke, list. Knows nothing of HTTP:
 * it answers with outcomes, and auth turns them into responses.
 *
 * Every revocation is written to the revocation log in its own transaction, and announced (to
 * this instance's registry at once; to the other instances and the resource-server feed once
 * the log has given it a position) by one mechanism: an after-commit hook of that transaction.
 * A revocation can therefore not be forgotten, nor announced before a rollback.
 */
@Injectable()
export class SessionsService {
  private readonly codec: RefreshTokenCodec;
  /**
   * Sessions whose refresh without their key was recorded lately: one audit row per session a
   * minute (per instance) is the news; a thief looping a copied token must not be able to flood
   * the security log, whose rows outlive the attempt.
   */
  private readonly unprovenRecorded: ReplayCache;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly database: DatabaseService,
    private readonly repository: SessionsRepository,
    private readonly registry: RevocationRegistry,
    private readonly log: RevocationLog,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {
    this.codec = new RefreshTokenCodec(config.refreshKeys);
    this.unprovenRecorded = new ReplayCache(UNPROVEN_RECORDED_CAPACITY, () => this.clock.now());
  }

  /**
   * Opens a session for one device inside the caller's transaction, which must hold the user's
   * row lock (UsersService.lock) so that concurrent logins of one user cannot both slip under
   * the limit. Replaces the device's previous session (device_relogin) and, past
   * MAX_SESSIONS_PER_USER, revokes the least recently used ones (session_limit).
   */
  async open(user: { id: string; role: Role }, device: DeviceInfo, client: ClientContext, db: Db): Promise<IssuedSession> {
    const now = this.clock.now();
    const deviceId = device.deviceId ?? uuidv7(now);
    const assurance = device.assurance ?? passwordOnly(now);
    await this.revokeRows(await this.repository.unrevokedIds({ userId: user.id, deviceId }, db), 'device_relogin', { actorId: null, client: null }, db, now);
    const overLimit = await this.repository.leastRecentlyUsedActive(user.id, now, this.config.maxSessionsPerUser - 1, db);
    await this.revokeRows(overLimit, 'session_limit', { actorId: null, client: null }, db, now);

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
      idleExpiresAt: this.idleExpiry(now, now + this.config.refreshTokenTtl * 1000),
      generation: 0,
      rotatedAt: null,
      salt: randomBytes(16).toString('base64url'),
      revokedAt: null,
      revokedReason: null,
      dpopJkt: device.dpopJkt ?? null,
      acr: assurance.acr,
      amr: assurance.amr.join(','),
      authTime: assurance.authTime,
      assuranceGeneration: 0,
      mfaEnrollmentRequired: device.mfaEnrollmentRequired ?? false,
    };
    await this.repository.insert(session, db);
    return {
      sessionId: session.id,
      userId: user.id,
      deviceId,
      role: user.role,
      dpopJkt: session.dpopJkt,
      refreshToken: this.codec.issue(session.id, 0, session.salt),
      expiresAt: session.expiresAt,
      issuedAt: now,
      assurance: this.currentAssurance(assurance, now),
      mfaEnrollmentRequired: session.mfaEnrollmentRequired,
    };
  }

  /**
   * One refresh: authenticate the link (constant-time MAC, before anything else), then, for a
   * DPoP-bound session, the key (`provenJkt`: the key the request's proof was signed with, null
   * without a proof) and the proof's first use (`spendProof`, which rejects a replayed one; only
   * then, so that junk cannot fill the replay store), then apply the chain rules
   * (refresh-decision.ts) and compare-and-swap the chain forward.
   */
  async refresh(token: string, client: ClientContext, provenJkt: string | null = null, spendProof?: () => Promise<void>): Promise<RefreshOutcome> {
    const outcome = await this.refreshChain(token, client, provenJkt, spendProof);
    this.metrics.refreshes.inc({ outcome: outcome.ok ? (outcome.rotated ? 'rotated' : 'grace') : outcome.reason });
    return outcome;
  }

  private async refreshChain(token: string, client: ClientContext, provenJkt: string | null, spendProof?: () => Promise<void>): Promise<RefreshOutcome> {
    const now = this.clock.now();
    const parts = parseRefreshToken(token);
    if (!parts) return { ok: false, reason: 'invalid' };
    // A forged or never-issued token stops here and changes nothing.
    let row = await this.authenticChain(parts);
    if (!row) return { ok: false, reason: 'invalid' };
    // A copied refresh token of a bound session, used without its device's key, stops here:
    // it neither moves the chain nor, replayed, revokes it (that would hand a thief a way to
    // sign the victim out); it is recorded for the security log, once a minute per session.
    if (!keyIsProven(row.dpopJkt, provenJkt)) {
      if (this.unprovenRecorded.remember(row.id, now + UNPROVEN_RECORD_INTERVAL_MS)) {
        await this.audit.record({
          type: 'invalid_dpop_proof',
          userId: row.userId,
          sessionId: row.id,
          client,
          details: { proof: provenJkt === null ? 'missing' : 'other_key' },
        });
      }
      return { ok: false, reason: 'unproven_key' };
    }
    if (row.dpopJkt !== null) await spendProof?.();

    let confirmed = false;
    for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
      const decision = decideRefresh(row, parts.generation, now, this.config.refreshReuseGrace * 1000);
      switch (decision) {
        case 'revoked':
        case 'expired':
          return { ok: false, reason: decision };
        case 'superseded':
          // A link from before a step-up: it may not mint the raised chain, nor end it.
          return { ok: false, reason: 'invalid' };
        case 'grace':
          return { ok: true, session: this.issued(row, row.generation, now), rotated: false };
        case 'replay':
          await this.revokeForReuse(row, parts.generation, client, now);
          return { ok: false, reason: 'reuse' };
        case 'ahead':
          // Only a stale read can show a chain behind a link we signed: confirm once, causally.
          if (confirmed) return { ok: false, reason: 'invalid' };
          break;
        case 'rotate': {
          if (await this.repository.rotate(row.id, parts.generation, now, this.idleExpiry(now, row.expiresAt)))
            return { ok: true, session: this.issued(row, parts.generation + 1, now), rotated: true };
          // Lost the race to a concurrent refresh with the same token: re-read and let the
          // rules decide, exactly as if this request had arrived a moment later.
          break;
        }
      }
      const fresh = await this.repository.findForRefresh(row.id, true);
      if (!fresh) return { ok: false, reason: 'revoked' };
      row = fresh;
      confirmed = true;
    }
    return { ok: false, reason: 'invalid' };
  }

  /** What a refresh token is (authentic? which state of its chain?), changing nothing; read as a refresh reads it. */
  async inspect(token: string): Promise<TokenInspection> {
    const parts = parseRefreshToken(token);
    const row = parts && (await this.authenticChain(parts));
    if (!parts || !row) return { authentic: false };
    const decide = (r: RefreshRow) => decideRefresh(r, parts.generation, this.clock.now(), this.config.refreshReuseGrace * 1000);
    let state = decide(row);
    // As in a refresh: only a stale read shows a chain behind a link we signed; confirm causally.
    const confirmed = state === 'ahead' ? await this.repository.findForRefresh(row.id, true) : row;
    if (confirmed !== row) state = confirmed ? decide(confirmed) : 'revoked';
    const assurance = this.currentAssurance(row.assurance, this.clock.now());
    return {
      authentic: true,
      state,
      session: {
        id: row.id,
        userId: row.userId,
        role: row.role,
        expiresAt: row.expiresAt,
        dpopJkt: row.dpopJkt,
        assurance,
        mfaEnrollmentRequired: this.mustEnrol(row),
      },
    };
  }

  /**
   * The chain a link belongs to, or null when the link is not authentic (constant-time MAC). A
   * session opened a moment ago on another database node may not be visible here yet, so a miss
   * is read once more, causally.
   */
  private async authenticChain(parts: RefreshTokenParts): Promise<RefreshRow | null> {
    const row = (await this.repository.findForRefresh(parts.sessionId)) ?? (await this.repository.findForRefresh(parts.sessionId, true));
    return row && this.codec.isAuthentic(parts, row.salt) ? row : null;
  }

  /** A chain unused for REFRESH_IDLE_TTL ends, and never later than its absolute expiry. */
  private idleExpiry(now: number, expiresAt: number): number {
    return Math.min(now + this.config.refreshIdleTtl * 1000, expiresAt);
  }

  private issued(row: RefreshRow, generation: number, now: number): IssuedSession {
    return {
      sessionId: row.id,
      userId: row.userId,
      deviceId: row.deviceId,
      role: row.role,
      dpopJkt: row.dpopJkt,
      refreshToken: this.codec.issue(row.id, generation, row.salt),
      expiresAt: row.expiresAt,
      issuedAt: now,
      assurance: this.currentAssurance(row.assurance, now),
      mfaEnrollmentRequired: this.mustEnrol(row),
    };
  }

  /**
   * MFA_REQUIRED, derived at every refresh rather than copied from the session: MFA_REQUIRED
   * turned on, or a promotion under MFA_REQUIRED=admin (the admin role reaches a token only
   * through a refresh or a login), applies to sessions opened before it at their next refresh.
   */
  private mustEnrol(row: RefreshRow): boolean {
    return mfaRequiredFor(this.config.mfaRequired, row.role) && !row.hasActiveFactor;
  }

  /** An `aal2` whose authentication is older than AAL2_MAX_AGE counts as `aal1`. */
  private currentAssurance(assurance: Assurance, now: number): Assurance {
    return current(assurance, now, this.config.aal2MaxAge * 1000);
  }

  /**
   * Raises a session's assurance after a second factor or a step-up proved it (and ends its
   * enrolment requirement). `rotate`: the chain moves to a new link, handed back, and no link
   * from before (not even one inside the grace window) can mint the raised assurance; without
   * rotating, the current link keeps working and will mint it at its next refresh. Null when the
   * session is not the user's, or no longer live.
   */
  async raiseAssurance(
    userId: string,
    sessionId: string,
    assurance: Assurance,
    options: { rotate: boolean; endsEnrollment?: boolean; db?: Db },
  ): Promise<IssuedSession | null> {
    for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
      const now = this.clock.now();
      const row = await this.repository.findForRefresh(sessionId, attempt > 0 && !options.db, options.db);
      if (!row || row.userId !== userId || row.revokedAt !== null || row.userDisabled || now >= row.expiresAt || now >= row.idleExpiresAt) return null;
      const to = options.rotate ? row.generation + 1 : row.generation;
      const endsEnrollment = options.endsEnrollment === true;
      if (await this.repository.raise(row.id, row.generation, to, assurance, now, this.idleExpiry(now, row.expiresAt), endsEnrollment, options.db)) {
        return this.issued({ ...row, assurance, assuranceGeneration: to }, to, now);
      }
    }
    return null;
  }

  /** MFA_REQUIRED: the user's live sessions must enrol a factor again (their last one is gone). */
  requireEnrollment(userId: string, db: Db): Promise<void> {
    return this.repository.requireEnrollment(userId, db);
  }

  /** Theft response (oidc-provider style): a replayed, already rotated link kills the whole session. */
  private async revokeForReuse(row: RefreshRow, presented: number, client: ClientContext, now: number): Promise<void> {
    await this.database.transaction(async (db) => {
      const done = await this.revokeRows(
        await this.repository.unrevokedIds({ sessionId: row.id }, db),
        'refresh_token_reuse',
        { actorId: null, client },
        db,
        now,
      );
      if (done.length === 0) return;
      this.database.afterCommit(db, () => this.metrics.thefts.inc());
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
    });
  }

  /**
   * Revokes the sessions in scope (ownership is part of the scope's query) and records a
   * `session_revoked` event for each. Joins the caller's transaction when `db` is given.
   */
  revoke(scope: SessionScope, reason: RevokeReason, actor: Actor, db?: Db): Promise<Revoked[]> {
    return this.database.within(db, async (tx) => this.revokeRows(await this.repository.unrevokedIds(scope, tx), reason, actor, tx, this.clock.now()));
  }

  private async revokeRows(rows: Array<{ id: string; userId: string }>, reason: RevokeReason, actor: Actor, db: Db, now: number): Promise<Revoked[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    await this.repository.markRevoked(ids, reason, now, db);
    await this.log.record(rows, reason, now, db);
    await this.audit.record(
      rows.map((r) => ({ type: 'session_revoked' as const, userId: r.userId, sessionId: r.id, ...actor, details: { reason } })),
      db,
    );
    this.database.afterCommit(db, () => {
      this.registry.announce(ids, now);
      this.log.sequenceSoon();
      this.metrics.revocations.inc({ reason }, ids.length);
    });
    return rows.map((r) => ({ id: r.id, userId: r.userId, reason }));
  }

  /**
   * Account deletion, inside the caller's transaction (which holds the user's row lock): every
   * session revoked through the ordinary path (`account_deleted`: the revocation log, this
   * instance's registry, the other instances and the resource-server feed all hear of it after
   * commit), then every session row deleted. The log's rows carry only ids, reason and time, and
   * are all the registry and the feed read, so nothing personal (device name, IP, user agent)
   * has to stay for the revocation to be enforced everywhere.
   */
  async eraseUser(userId: string, actor: Actor, db: Db): Promise<Revoked[]> {
    const revoked = await this.revoke({ userId }, 'account_deleted', actor, db);
    await this.repository.deleteForUser(userId, db);
    return revoked;
  }

  /**
   * "This wasn't me": the reported sign-in and every session of the user opened since, on any
   * device (an intruder with the password can sign in again under a device id the user already
   * has, which sends no alert); the sessions the user had before it stay. If housekeeping has
   * deleted the reported session, nothing tells which sessions came after it: all of them go.
   * Returns them and `since`, the reported sign-in's time (0 when it is gone), for what else it
   * may have set up.
   */
  async revokeReported(userId: string, sessionId: string, actor: Actor, db: Db): Promise<{ revoked: Revoked[]; since: number }> {
    const reportedAt = await this.repository.createdAtOf(userId, sessionId, db);
    const revoked = await this.revoke(reportedAt === null ? { userId } : { userId, createdSince: reportedAt }, 'reported_by_user', actor, db);
    return { revoked, since: reportedAt ?? 0 };
  }

  /**
   * Whether the user has had a session on this device that was never reported as "this wasn't
   * me" (a reported device alerts again at its next login), and its live session if it has one.
   */
  deviceHistory(userId: string, deviceId: string, db?: Db): Promise<DeviceHistory> {
    return this.repository.deviceHistory(userId, deviceId, this.clock.now(), db);
  }

  /** Newest use first, each with its assurance as of now (an old `aal2` shows as `aal1`). */
  async listForUser(userId: string, includeRevoked = false): Promise<Session[]> {
    const now = this.clock.now();
    return this.withCurrentAssurance(await this.repository.listForUser(userId, { includeRevoked, now }), now);
  }

  /**
   * Every session of the user, past (until housekeeping deletes it) and present, oldest first,
   * one bounded page at a time; assurance as in listForUser.
   */
  async *pagesOfUser(userId: string, pageSize = 500): AsyncGenerator<Session[]> {
    let after: Session | null = null;
    for (;;) {
      const page = await this.repository.pageForUser(userId, after, pageSize);
      if (page.length === 0) return;
      yield this.withCurrentAssurance(page, this.clock.now());
      if (page.length < pageSize) return;
      after = page[page.length - 1];
    }
  }

  private withCurrentAssurance(sessions: Session[], now: number): Session[] {
    for (const s of sessions)
      s.acr = current({ acr: s.acr === 'aal2' ? 'aal2' : 'aal1', amr: [], authTime: s.authTime ?? s.createdAt }, now, this.config.aal2MaxAge * 1000).acr;
    return sessions;
  }

  /** The device a session of this user was opened on, or null. */
  deviceOf(userId: string, sessionId: string, db: Db): Promise<string | null> {
    return this.repository.deviceOf(userId, sessionId, db);
  }

  findById(id: string, causal = false): Promise<Session | null> {
    return this.repository.findById(id, causal);
  }
}
