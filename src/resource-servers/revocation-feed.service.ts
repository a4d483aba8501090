import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_REVOKED } from '@latchkey/verifier';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import { Coalesced } from '../common/coalesced';
import { SseWriter, sseComment, sseMessage } from '../common/sse';
import { TokenSigner } from '../auth/token-signer';
import { RevocationEvent, RevocationLog } from '../sessions/revocation-log';
import { SigningKeysService } from '../auth/signing-keys.service';
import { OpenStreams } from '../auth/open-streams';
import { ResourceServerInfo, ResourceServersService } from './resource-servers.service';

/** Comment lines keep idle streams (and the proxies in between) alive; the contract promises one at least every 15 s. */
export const HEARTBEAT_MS = 10_000;
/** Injection token for the heartbeat period (tests shorten it). */
export const FEED_HEARTBEAT_MS = Symbol('FEED_HEARTBEAT_MS');
/** Signed SETs kept for other receivers of the same resource server. */
const SIGNED_CACHE_MAX = 50_000;

export interface FeedPage {
  events: string[];
  cursor: string;
  more: boolean;
}

const CURSOR = /^[A-Za-z0-9_-]{1,64}$/;

/** An open SSE stream, as the shared heartbeat sees it. */
interface FeedStream {
  /** The receiver is gone (its socket closed), whether or not a 'close' reached the stream. */
  gone(): boolean;
  heartbeat(): void;
  end(): void;
}

/**
 * The session revocation feed (GET /auth/revocations): the revocation log read by cursor, each
 * event a signed CAEP session-revoked SET. The cursor is a position in the log
 * (sessions/revocation-sequencer.ts explains why a reader following it misses nothing and sees
 * nothing twice) plus the log's epoch; latchkey keeps no state per receiver, so any number of
 * service instances can follow it, from any latchkey instance.
 */
@Injectable()
export class RevocationFeed implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationFeed.name);
  /** Aborted when the application shuts down: long polls answer, streams end. */
  private readonly closing = new AbortController();
  private readonly signed = new Map<string, string>();
  /** An advance's events (the same array for every listener) → its SSE text per resource server; gone with the array. */
  private readonly renderedAdvances = new WeakMap<RevocationEvent[], Map<string, string>>();
  /** Open SSE streams by resource server: one heartbeat round serves them all. */
  private readonly streams = new Map<string, Set<FeedStream>>();
  private heartbeat?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly log: RevocationLog,
    private readonly signer: TokenSigner,
    private readonly keys: SigningKeysService,
    private readonly servers: ResourceServersService,
    private readonly openStreams: OpenStreams,
    @Inject(FEED_HEARTBEAT_MS) private readonly heartbeatMs: number,
    private readonly clock: Clock,
  ) {
    // One listener per open stream and held long poll, bounded by OpenStreams: not a leak.
    setMaxListeners(0, this.closing.signal);
    // The log started over (a database restore): every stream's position belongs to the old history.
    this.log.onStartOver(() => this.endAll());
    // A SET signed by a key the JWKS no longer lists (revoked) can never verify, and a verifier
    // holds its cursor before one: the cache key names the kid, and a key change drops the rest.
    this.keys.onChange(() => this.signed.clear());
  }

  /**
   * Not part of CAEP: the version of the JWKS (it changes when a key is added or revoked). Long
   * polls carry it in this header, streams as an `event: jwks` message; a receiver whose JWKS
   * has another version refetches it, so a revoked key stops verifying there too.
   */
  static readonly JWKS_HEADER = 'latchkey-jwks';

  get jwksVersion(): string {
    return this.keys.version;
  }

  beforeApplicationShutdown(): void {
    this.closing.abort();
  }

  onApplicationShutdown(): void {
    clearInterval(this.heartbeat);
  }

  encodeCursor(seq: number): string {
    return Buffer.from(`${this.log.epoch}.${seq}`).toString('base64url');
  }

  /**
   * The position a cursor names; null for "from the window's start" (no cursor, or one from
   * an earlier life of the log, which can only be older than the window). 400 when malformed,
   * and when beyond the head even after reading the database: this feed never issued it (a
   * restored database is no such case: the log then starts over under a new epoch, so cursors
   * of the lost history name another epoch and answer from the window's start).
   */
  async decodeCursor(raw: string | undefined): Promise<number | null> {
    if (raw === undefined) return null;
    const invalid = () => ApiError.oauth('invalid_request', 'The cursor is not one this feed issued.');
    if (!CURSOR.test(raw)) throw invalid();
    const match = /^([A-Za-z0-9_-]{1,16})\.(0|[1-9]\d{0,14})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
    if (!match || Buffer.from(`${match[1]}.${match[2]}`).toString('base64url') !== raw) throw invalid();
    await this.log.load();
    const seq = Number(match[2]);
    // Another instance may have sequenced past this one's head since its last poll: ask the database.
    if (match[1] === this.log.epoch && seq > this.log.head) await this.log.catchUp();
    if (match[1] !== this.log.epoch) return null;
    if (seq > this.log.head) throw invalid();
    return seq;
  }

  /** One page for a long-polling receiver: held up to `waitSeconds` while nothing is newer. */
  async page(server: ResourceServerInfo, after: number | null, limit: number, waitSeconds: number, gone?: AbortSignal): Promise<FeedPage> {
    await this.log.load();
    const epoch = this.log.epoch;
    let batch = await this.next(after, limit);
    if (batch.events.length === 0 && waitSeconds > 0) {
      const release = this.openStreams.open({ clientId: server.clientId });
      try {
        await this.log.waitBeyond(batch.seq, waitSeconds * 1000, gone ? [this.closing.signal, gone] : [this.closing.signal]);
      } finally {
        release();
      }
      // A log that started over meanwhile: the position waited on belongs to the old history.
      batch = await this.next(this.log.epoch === epoch ? batch.seq : null, limit);
    }
    return { events: batch.events.map((e) => this.sign(e, server.clientId)), cursor: this.encodeCursor(batch.seq), more: batch.seq < this.log.head };
  }

  /**
   * The events after a position (or the window's, from null), at most `limit`, and the
   * position to continue from: the last event's, or the head when the page reaches it.
   */
  private async next(after: number | null, limit: number): Promise<{ events: RevocationEvent[]; seq: number }> {
    const head = this.log.head;
    if (after === null) {
      const window = this.log.window();
      const events = window.slice(0, limit);
      return { events, seq: events.length < window.length ? events[events.length - 1].seq : head };
    }
    if (after >= head) return { events: [], seq: after };
    const events = await this.log.read(after, limit);
    return { events, seq: events.length === limit ? events[events.length - 1].seq : head };
  }

  /**
   * Server-Sent Events: `id: <cursor>` and `data: <SET>` per event, an `id:` alone whenever the
   * receiver has caught up (so a reconnect resumes from there even after no event at all), a
   * comment every HEARTBEAT_MS. Resumes after `after` (Last-Event-ID). Ends when the receiver
   * goes, when its credentials are removed, or when latchkey shuts down.
   */
  async stream(server: ResourceServerInfo, after: number | null, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await this.log.load();
    const release = this.openStreams.open({ clientId: server.clientId });
    const socket = request.raw.socket;
    // Gone during the guard's and the cursor's awaits: its 'close' was before anyone listened.
    const sse = SseWriter.open(reply, {}, () => socket.destroyed);
    if (!sse) return release();
    const raw = sse.raw;
    let position = after;
    let announced = false;
    let ended = false;
    /** A pump round is under way (it may have read past `position` already). */
    let pumping = false;
    // One batch a round, one round at a time; an advance of the log meanwhile gets one more.
    const pump = new Coalesced(async () => {
      if (ended) return false;
      pumping = true;
      try {
        const batch = await this.next(position, 500);
        // One write a round: each write is a syscall per stream, and every stream gets every event.
        let text = '';
        for (const event of batch.events) text += this.message(event, server.clientId);
        const moved = batch.seq !== position;
        position = batch.seq;
        const more = batch.events.length > 0 && batch.seq < this.log.head;
        // Caught up: say where, so a reconnect resumes from here (and at the start, that the stream
        // is live); unless the last event's id already says it.
        if (!more && batch.events.at(-1)?.seq !== position && (moved || !announced)) text += sseMessage({ id: this.encodeCursor(position) });
        if (text) await sse.write(text);
        if (more) return true;
        announced = true;
        return false;
      } catch (error) {
        this.logger.warn(`revocation stream failed: ${(error as Error).message}`);
        end();
        return false;
      } finally {
        pumping = false;
      }
    });
    // Every stream hears every advance. One that is caught up, idle and not backed up takes the
    // new events as they come, in one write of text rendered once per resource server for all
    // its streams; any other goes through its pump (reads from its position, waits for drain).
    const stopListening = this.log.onAdvance((events) => {
      if (sse.closed) return;
      if (!pumping && announced && position === events[0].seq - 1 && !sse.backedUp) {
        position = events[events.length - 1].seq;
        sse.push(this.rendered(events, server.clientId));
        return;
      }
      void pump.run();
    });
    const stopKeys = this.keys.onChange(() => void sse.write(sseMessage({ event: 'jwks', data: this.keys.version })));
    const stream: FeedStream = { gone: () => raw.destroyed || socket.destroyed, heartbeat: () => void sse.write(sseComment('keep-alive')), end: () => end() };
    const stopHeartbeat = this.track(server.clientId, stream);
    const end = () => {
      if (ended) return;
      ended = true;
      release();
      stopHeartbeat();
      stopListening();
      stopKeys();
      this.closing.signal.removeEventListener('abort', end);
      request.raw.off('close', end);
      raw.off('close', end);
      socket.off('close', end);
      sse.end();
    };
    this.closing.signal.addEventListener('abort', end);
    request.raw.on('close', end);
    raw.on('close', end);
    socket.on('close', end);
    await sse.write(sseComment('latchkey session revocation feed') + sseMessage({ event: 'jwks', data: this.keys.version }));
    await pump.run();
  }

  /** Adds a stream to the shared heartbeat (started with the first stream, stopped with the last); returns its removal. */
  private track(clientId: string, stream: FeedStream): () => void {
    let group = this.streams.get(clientId);
    if (!group) this.streams.set(clientId, (group = new Set()));
    group.add(stream);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
      this.heartbeat.unref();
    }
    return () => {
      group.delete(stream);
      if (group.size === 0 && this.streams.get(clientId) === group) this.streams.delete(clientId);
      if (this.streams.size === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    };
  }

  /**
   * One heartbeat round for every open stream: a stream whose receiver is gone ends (its slot
   * with it); one query says which of their resource servers are still registered (a removed
   * one's streams end), then a comment to each of the others.
   */
  private async beat(): Promise<void> {
    for (const group of [...this.streams.values()]) for (const stream of [...group]) if (stream.gone()) stream.end();
    const clients = [...this.streams.keys()];
    if (clients.length === 0) return;
    // The database down: keep the streams (their credentials were good), and check again next round.
    const registered = await this.servers.registered(clients).catch(() => new Set(clients));
    for (const clientId of clients) {
      for (const stream of [...(this.streams.get(clientId) ?? [])]) {
        if (registered.has(clientId)) stream.heartbeat();
        else stream.end();
      }
    }
  }

  private endAll(): void {
    for (const group of [...this.streams.values()]) for (const stream of [...group]) stream.end();
  }

  /** The SSE text of one advance of the log for one resource server, made once for all its streams. */
  private rendered(events: RevocationEvent[], clientId: string): string {
    let byClient = this.renderedAdvances.get(events);
    if (!byClient) this.renderedAdvances.set(events, (byClient = new Map()));
    // The kid too: text signed before a key change must not reach a stream after it.
    const key = `${this.keys.signingKey.kid}.${clientId}`;
    let text = byClient.get(key);
    if (text === undefined) {
      text = events.map((event) => this.message(event, clientId)).join('');
      byClient.set(key, text);
    }
    return text;
  }

  /** One event's SSE message: its cursor as the id, its SET as the data. */
  private message(event: RevocationEvent, clientId: string): string {
    return sseMessage({ id: this.encodeCursor(event.seq), data: this.sign(event, clientId) });
  }

  /** The CAEP session-revoked SET of one event for one receiver, signed once and kept. */
  private sign(event: RevocationEvent, clientId: string): string {
    // The epoch too: after a restore the same position holds another revocation. The kid: a SET
    // must be signed by a key the JWKS lists now (a revoked key leaves it at once).
    const key = `${this.keys.signingKey.kid}.${this.log.epoch}.${event.seq}.${clientId}`;
    const cached = this.signed.get(key);
    if (cached) return cached;
    const set = this.signer.sign(
      {
        iss: this.config.jwtIssuer,
        // The same event for the same receiver always has the same jti, so a receiver can de-duplicate.
        jti: createHash('sha256').update(`${this.log.epoch}.${event.seq}.${clientId}`).digest('base64url').slice(0, 22),
        iat: Math.floor(this.clock.now() / 1000),
        aud: clientId,
        sub_id: { format: 'complex', session: { format: 'opaque', id: event.sessionId }, user: { format: 'opaque', id: event.userId } },
        events: { [SESSION_REVOKED]: { event_timestamp: Math.floor(event.revokedAt / 1000), reason_admin: { en: event.reason } } },
      },
      'secevent+jwt',
    );
    if (this.signed.size >= SIGNED_CACHE_MAX) this.signed.delete(this.signed.keys().next().value!);
    this.signed.set(key, set);
    return set;
  }
}
