import { VerifierConfigurationError } from './errors';
import { HttpStatusError, MANUAL_REDIRECT, getJson, linkedController, sleep, statusError } from './http';
import type { Logger } from './logger';
import { SseParser } from './sse';

export type Transport = 'stream' | 'poll';

/** The error of the feed's current failure streak, as `status()` shows it. */
export interface FeedError {
  code: string;
  message: string;
  status?: number;
  at: string;
}

export interface FeedOptions {
  endpoint: string;
  authorization: string;
  fetch: typeof fetch;
  transport: Transport;
  /** Seconds a long poll may be held by latchkey (contract: 0–30). */
  pollWaitSeconds: number;
  retry: { minDelay: number; maxDelay: number };
  now: () => number;
  logger: Logger;
  signal: AbortSignal;
  /**
   * Applies one SET. It reports and swallows what no retry can fix (a forged or malformed event); it
   * rejects for an event it cannot apply yet, and the feed then holds its cursor before that event
   * and retries it, blocked (see {@link RevocationFeed.blocked}) until it is applied.
   */
  onEvent: (set: string) => Promise<void>;
  onCaughtUp: () => void;
  onConfigurationError: (error: VerifierConfigurationError) => void;
  /** latchkey's current JWKS version (long polls: a header; streams: an `event: jwks` message). */
  onJwksVersion: (version: string) => void;
}

/** Not CAEP: where latchkey says which JWKS is current (see onJwksVersion). */
const JWKS_HEADER = 'latchkey-jwks';

interface Page {
  events: string[];
  cursor: string;
  more: boolean;
}

const PAGE_LIMIT = 1000;
/** latchkey sends a comment at least every 15 s; three missed ones mean a dead connection. */
const STREAM_IDLE_MS = 45_000;
/** After falling back to polling, try the stream again this much later. */
const STREAM_RETRY_MS = 300_000;
/** Stream failures in a row, with nothing delivered, before falling back to polling. */
const STREAM_FAILURES_BEFORE_POLLING = 2;
/** Statuses saying "no event stream here", as opposed to "try again". */
const STREAM_UNSUPPORTED = new Set([404, 405, 406, 415, 501]);
/** An empty long poll answered faster than this means the server does not hold requests: pace them. */
const MIN_EMPTY_POLL_MS = 1000;

class StreamClosed extends Error {
  override name = 'StreamClosed';
}

/** An event the verifier could not apply yet: the cursor stays before it. */
class EventNotApplied extends Error {
  override name = 'EventNotApplied';
}

/**
 * Follows `GET <session_revocation_feed_endpoint>`: a first full read (every revocation still within
 * one token lifetime), then Server-Sent Events resumed with `Last-Event-ID`, or long polling with
 * `after=<cursor>` when the stream fails or is not offered. The cursor lives in memory; a restarted
 * process starts again from the full read, which is all that can still matter.
 *
 * Every answer, event and comment line marks the feed known-good (`lastGoodAt`); the verifier
 * derives staleness from it, and from `blocked`: the cursor never passes an event that was not
 * applied, since a revocation skipped is one resource servers would never hear of again.
 */
export class RevocationFeed {
  cursor: string | undefined;
  lastGoodAt: number | undefined;
  lastEventAt: number | undefined;
  lastError: FeedError | null = null;
  /** An event could not be applied: the feed retries it, and revocations after it wait behind it. */
  blocked = false;
  mode: Transport;
  private caughtUp = false;
  private failures = 0;
  private streamFailures = 0;
  private retryStreamAt = 0;

  constructor(private readonly options: FeedOptions) {
    this.mode = options.transport;
  }

  /** Follows the feed until the signal aborts; never rejects. */
  async run(): Promise<void> {
    const { signal } = this.options;
    while (!signal.aborted) {
      try {
        if (!this.caughtUp) await this.catchUp();
        else if (this.mode === 'stream') await this.stream();
        else await this.poll();
        this.failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        await sleep(this.failed(error as Error), signal);
      }
    }
  }

  private async catchUp(): Promise<void> {
    let more = true;
    while (more && !this.options.signal.aborted) more = (await this.page(0)).more;
    if (this.options.signal.aborted) return;
    this.caughtUp = true;
    this.options.onCaughtUp();
  }

  private async poll(): Promise<void> {
    if (this.options.transport === 'stream' && this.options.now() >= this.retryStreamAt) {
      this.mode = 'stream';
      return;
    }
    const started = Date.now();
    const page = await this.page(this.options.pollWaitSeconds);
    if (page.events.length === 0 && !page.more && Date.now() - started < MIN_EMPTY_POLL_MS) await sleep(MIN_EMPTY_POLL_MS, this.options.signal);
  }

  /** One JSON read after the cursor: `wait` 0 for catching up, more for a long poll. */
  private async page(wait: number): Promise<Page> {
    const url = new URL(this.options.endpoint);
    url.searchParams.set('limit', String(PAGE_LIMIT));
    if (this.cursor !== undefined) url.searchParams.set('after', this.cursor);
    if (wait > 0) url.searchParams.set('wait', String(wait));
    const response = await getJson(this.options.fetch, url.href, { authorization: this.options.authorization }, (wait + 15) * 1000, this.options.signal);
    const page = readPage(response.body);
    this.markGood();
    const jwks = response.headers.get(JWKS_HEADER);
    if (jwks) this.options.onJwksVersion(jwks);
    for (const set of page.events) await this.deliver(set);
    this.cursor = page.cursor;
    this.unblock();
    return page;
  }

  private async stream(): Promise<void> {
    const { options } = this;
    const controller = linkedController(options.signal);
    const idle = setTimeout(() => controller.abort(new Error(`no data on the stream for ${STREAM_IDLE_MS / 1000} s`)), STREAM_IDLE_MS);
    idle.unref();
    try {
      const headers: Record<string, string> = { authorization: options.authorization, accept: 'text/event-stream', 'cache-control': 'no-cache' };
      if (this.cursor !== undefined) headers['last-event-id'] = this.cursor;
      const response = await options.fetch(options.endpoint, { headers, signal: controller.signal, redirect: MANUAL_REDIRECT });
      if (!response.ok) throw await statusError(options.endpoint, response);
      if (!/^text\/event-stream/i.test(response.headers.get('content-type') ?? '')) {
        await response.body?.cancel();
        this.usePolling('the feed answered without an event stream');
        return;
      }
      this.markGood();
      const reader = response.body!.getReader();
      // Cancelling the reader ends the connection even if fetch lost track of its signal.
      controller.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined), { once: true });
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        idle.refresh();
        this.markGood();
        // While an event is blocked, reconnecting works but the retries must still back off.
        if (!this.blocked) this.failures = 0;
        this.streamFailures = 0;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (event.event === 'jwks') {
            if (event.data) this.options.onJwksVersion(event.data);
            continue;
          }
          if (event.data !== '') await this.deliver(event.data);
          if (event.id !== undefined) this.cursor = event.id;
        }
      }
      throw new StreamClosed('the feed closed the stream');
    } finally {
      clearTimeout(idle);
      controller.abort();
      controller.dispose();
    }
  }

  private async deliver(set: string): Promise<void> {
    try {
      await this.options.onEvent(set);
    } catch (error) {
      this.blocked = true;
      throw new EventNotApplied((error as Error).message);
    }
    this.unblock();
    this.lastEventAt = this.options.now();
  }

  private unblock(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.lastError = null;
    this.options.logger.info?.('revocation feed: the held event is applied; following again', {});
  }

  private markGood(): void {
    this.lastGoodAt = this.options.now();
    // Answers keep coming while an event is blocked; its error stays the one to report.
    if (!this.blocked) this.lastError = null;
  }

  private usePolling(reason: string): void {
    this.mode = 'poll';
    this.retryStreamAt = this.options.now() + STREAM_RETRY_MS;
    this.options.logger.warn('revocation feed: falling back to long polling', { reason });
  }

  /** Records a failure and decides how long to wait before the next try. */
  private failed(error: Error): number {
    const { logger, retry } = this.options;
    this.failures++;
    const status = error instanceof HttpStatusError ? error.status : undefined;
    const code =
      (error instanceof HttpStatusError ? error.code : undefined) ??
      (error instanceof StreamClosed ? 'stream_closed' : error instanceof EventNotApplied ? 'event_unverifiable' : status ? `http_${status}` : 'unreachable');
    this.lastError = { code, message: error.message, ...(status !== undefined && { status }), at: new Date(this.options.now()).toISOString() };

    if (status === 401) {
      const configError = new VerifierConfigurationError(
        `latchkey refused this resource server's credentials (${code}); check clientId and clientSecret`,
        code,
        401,
      );
      logger.error('revocation feed: client authentication failed', { status, code });
      this.options.onConfigurationError(configError);
      // It will not fix itself soon: retry slowly, for when the credentials are fixed.
      return retry.maxDelay * (1 + Math.random());
    }
    if (status === 400 && this.caughtUp) {
      // The cursor is no longer understood (e.g. latchkey was upgraded): read the whole window again.
      logger.warn('revocation feed: cursor refused, reading every current revocation again', { code });
      this.cursor = undefined;
      this.caughtUp = false;
    } else if (this.mode === 'stream' && this.caughtUp && status !== undefined && STREAM_UNSUPPORTED.has(status)) {
      this.usePolling(`the stream answered ${status}`);
    } else if (this.mode === 'stream' && this.caughtUp && !(error instanceof EventNotApplied) && ++this.streamFailures >= STREAM_FAILURES_BEFORE_POLLING) {
      this.streamFailures = 0;
      this.usePolling(error.message);
    }
    if (error instanceof StreamClosed && this.failures === 1) logger.info?.('revocation feed: stream closed, resuming', {});
    else if (error instanceof EventNotApplied)
      logger.warn('revocation feed: an event cannot be verified yet; holding the cursor before it and retrying', {
        code,
        error: error.message,
        failures: this.failures,
      });
    else logger.warn('revocation feed: request failed, retrying', { code, error: error.message, failures: this.failures });

    const cap = Math.min(retry.maxDelay, retry.minDelay * 2 ** (this.failures - 1));
    const delay = cap / 2 + (Math.random() * cap) / 2;
    const retryAfter = error instanceof HttpStatusError ? error.retryAfterMs : undefined;
    return retryAfter ? Math.max(delay, Math.min(retryAfter, retry.maxDelay)) : delay;
  }
}

function readPage(body: unknown): Page {
  const page = body as Partial<Page> | null;
  if (!page || !Array.isArray(page.events) || !page.events.every((e) => typeof e === 'string') || typeof page.cursor !== 'string') {
    throw new Error('the feed answered a malformed page');
  }
  return { events: page.events, cursor: page.cursor, more: page.more === true };
}
