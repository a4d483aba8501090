import { readFileSync } from 'node:fs';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';

/** When a refused stream may try again: streams are long-lived, so a slot frees up slowly. */
const RETRY_AFTER_S = 10;
/** The total when the open-file limit cannot be read (not Linux). */
const FALLBACK_MAX = 4096;

/** What a stream counts against: its session, its user, its resource server. */
export interface StreamOwner {
  sessionId?: string;
  userId?: string;
  clientId?: string;
}

/**
 * Every connection latchkey holds open on purpose (a browser's session events, a resource
 * server's feed stream or long poll) takes a slot here first. Each one holds a file descriptor
 * for as long as it lasts, so without a bound one user could open enough of them to leave the
 * process none for /health, admin sign-in or the database. Per session, user and client past
 * STREAMS_PER_*: 429; past the total (STREAMS_MAX, never more than half the process's
 * open-file limit, so the other half stays for ordinary requests): 503. Both with Retry-After.
 * Browsers' streams (no resource server) take at most half the total, also 503 past it: with open
 * registration, throwaway accounts could otherwise fill every slot and leave resource servers'
 * feeds none, and a verifier without its feed goes stale. Feeds may use the whole total.
 */
@Injectable()
export class OpenStreams {
  private readonly logger = new Logger(OpenStreams.name);
  private readonly counts = new Map<string, number>();
  private total = 0;
  private userTotal = 0;
  /** The most streams open at once, over every kind. */
  readonly max: number;
  /** The most browsers' streams open at once: the rest of `max` is kept for resource servers' feeds. */
  readonly userMax: number;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    const files = openFileLimit();
    const ceiling = files === null ? FALLBACK_MAX : Math.max(1, Math.floor(files / 2));
    this.max = Math.min(config.streams.max ?? ceiling, ceiling);
    this.userMax = Math.max(1, Math.floor(this.max / 2));
    if (config.streams.max !== null && config.streams.max > ceiling)
      this.logger.warn(`STREAMS_MAX=${config.streams.max} lowered to ${ceiling}, half the open-file limit; raise the limit (ulimit -n) for more`);
  }

  /** Streams open now, over every kind. */
  get size(): number {
    return this.total;
  }

  /** Takes a slot for a stream of this owner, or throws 429/503; the answer releases it (once). */
  open(owner: StreamOwner): () => void {
    const limits = this.config.streams;
    const keys: Array<[string, number, string]> = [];
    if (owner.sessionId) keys.push([`s:${owner.sessionId}`, limits.perSession, 'this session']);
    if (owner.userId) keys.push([`u:${owner.userId}`, limits.perUser, 'this user']);
    if (owner.clientId) keys.push([`c:${owner.clientId}`, limits.perClient, 'this resource server']);
    for (const [key, limit, whose] of keys) {
      if ((this.counts.get(key) ?? 0) >= limit) throw tooMany(429, 'too_many_requests', `Too many open streams for ${whose}. Close one, or try again later.`);
    }
    const feed = owner.clientId !== undefined;
    if (this.total >= this.max || (!feed && this.userTotal >= this.userMax))
      throw tooMany(503, 'service_unavailable', 'latchkey holds as many streams as it can. Try again later.');
    this.total++;
    if (!feed) this.userTotal++;
    for (const [key] of keys) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      if (!feed) this.userTotal--;
      for (const [key] of keys) {
        const left = this.counts.get(key)! - 1;
        if (left > 0) this.counts.set(key, left);
        else this.counts.delete(key);
      }
    };
  }
}

function tooMany(status: 429 | 503, code: string, message: string): ApiError {
  return new ApiError(status, code, message, {}, { 'retry-after': String(RETRY_AFTER_S) });
}

/** The soft RLIMIT_NOFILE of this process, from /proc (Linux); null elsewhere. */
function openFileLimit(): number | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!line || line[1] === 'unlimited') return null;
    return Number(line[1]);
  } catch {
    return null;
  }
}
