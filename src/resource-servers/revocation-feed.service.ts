import { createHash } from 'node:crypto';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_REVOKED } from '@latchkey/verifier';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Coalesced } from '../common/coalesced';
import { TokenSigner } from '../auth/token-signer';
import { RevocationEvent, RevocationLog } from '../sessions/revocation-log';
import { SigningKeysService } from '../auth/signing-keys.service';
import { ResourceServerInfo, ResourceServersService } from './resource-servers.service';

/** Comment lines keep idle streams (and the proxies in between) alive; the contract promises one at least every 15 s. */
export const HEARTBEAT_MS = 10_000;
/** Signed SETs kept for other receivers of the same resource server. */
const SIGNED_CACHE_MAX = 50_000;

export interface FeedPage {
  events: string[];
  cursor: string;
  more: boolean;
}

const CURSOR = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The session revocation feed (GET /auth/revocations): the revocation log read by cursor, each
 * event a signed CAEP session-revoked SET. The cursor is a position in the log
 * (sessions/revocation-log.ts explains why a reader following it misses nothing and sees
 * nothing twice) plus the log's epoch; latchkey keeps no state per receiver, so any number of
 * service instances can follow it, from any latchkey instance.
 */
@Injectable()
export class RevocationFeed implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RevocationFeed.name);
  /** Aborted when the application shuts down: long polls answer, streams end. */
  private readonly closing = new AbortController();
  private readonly signed = new Map<string, string>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly log: RevocationLog,
    private readonly signer: TokenSigner,
    private readonly keys: SigningKeysService,
    private readonly servers: ResourceServersService,
  ) {}

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

  encodeCursor(seq: number): string {
    return Buffer.from(`${this.log.epoch}.${seq}`).toString('base64url');
  }

  /**
   * The position a cursor names; null for "from the window's start" (no cursor, or one from
   * an earlier life of the log, which can only be older than the window). 400 when malformed.
   */
  decodeCursor(raw: string | undefined): number | null {
    if (raw === undefined) return null;
    const invalid = () => ApiError.oauth('invalid_request', 'The cursor is not one this feed issued.');
    if (!CURSOR.test(raw)) throw invalid();
    const match = /^([A-Za-z0-9_-]{1,16})\.(0|[1-9]\d{0,14})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
    if (!match || Buffer.from(`${match[1]}.${match[2]}`).toString('base64url') !== raw) throw invalid();
    return match[1] === this.log.epoch ? Number(match[2]) : null;
  }

  /** One page for a long-polling receiver: held up to `waitSeconds` while nothing is newer. */
  async page(server: ResourceServerInfo, after: number | null, limit: number, waitSeconds: number, gone?: AbortSignal): Promise<FeedPage> {
    await this.log.load();
    let batch = await this.next(after, limit);
    if (batch.events.length === 0 && waitSeconds > 0) {
      await this.log.waitBeyond(batch.seq, waitSeconds * 1000, AbortSignal.any([this.closing.signal, ...(gone ? [gone] : [])]));
      batch = await this.next(batch.seq, limit);
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
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    let position = after;
    let announced = false;
    let ended = false;
    const write = (text: string): Promise<void> => {
      if (ended || raw.destroyed) return Promise.resolve();
      if (raw.write(text)) return Promise.resolve();
      return new Promise((resolve) => {
        raw.once('drain', resolve);
        raw.once('close', resolve);
      });
    };
    // One batch a round, one round at a time; an advance of the log meanwhile gets one more.
    const pump = new Coalesced(async () => {
      if (ended) return false;
      try {
        const batch = await this.next(position, 500);
        for (const event of batch.events) await write(`id: ${this.encodeCursor(event.seq)}\ndata: ${this.sign(event, server.clientId)}\n\n`);
        const moved = batch.seq !== position;
        position = batch.seq;
        if (batch.events.length > 0 && batch.seq < this.log.head) return true;
        // Caught up: say where, so a reconnect resumes from here (and at the start, that the stream is live).
        if (moved || batch.events.length || !announced) await write(`id: ${this.encodeCursor(position!)}\n\n`);
        announced = true;
        return false;
      } catch (error) {
        this.logger.warn(`revocation stream failed: ${(error as Error).message}`);
        end();
        return false;
      }
    });
    const stopListening = this.log.onAdvance(() => void pump.run());
    const stopKeys = this.keys.onChange(() => void write(`event: jwks\ndata: ${this.keys.version}\n\n`));
    const heartbeat = setInterval(() => {
      void (async () => {
        if (!(await this.servers.stillRegistered(server.clientId).catch(() => true))) return end();
        await write(': keep-alive\n\n');
      })();
    }, HEARTBEAT_MS);
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      stopListening();
      stopKeys();
      this.closing.signal.removeEventListener('abort', end);
      raw.end();
    };
    this.closing.signal.addEventListener('abort', end);
    request.raw.on('close', end);
    await write(`: latchkey session revocation feed\n\nevent: jwks\ndata: ${this.keys.version}\n\n`);
    await pump.run();
  }

  /** The CAEP session-revoked SET of one event for one receiver, signed once and kept. */
  private sign(event: RevocationEvent, clientId: string): string {
    const key = `${event.seq}.${clientId}`;
    const cached = this.signed.get(key);
    if (cached) return cached;
    const set = this.signer.sign(
      {
        iss: this.config.jwtIssuer,
        // The same event for the same receiver always has the same jti, so a receiver can de-duplicate.
        jti: createHash('sha256').update(`${this.log.epoch}.${event.seq}.${clientId}`).digest('base64url').slice(0, 22),
        iat: Math.floor(Date.now() / 1000),
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
