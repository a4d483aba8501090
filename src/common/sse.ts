import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** One Server-Sent Events message; an `id` alone marks a position to resume from. */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** The text of one message (fields in the order id, event, data; the caller keeps newlines out of them). */
export function sseMessage(message: SseMessage): string {
  let text = '';
  if (message.id !== undefined) text += `id: ${message.id}\n`;
  if (message.event !== undefined) text += `event: ${message.event}\n`;
  if (message.data !== undefined) text += `data: ${message.data}\n`;
  return `${text}\n`;
}

/** A comment line: ignored by EventSource, it keeps idle connections (and proxies) alive. */
export function sseComment(text: string): string {
  return `: ${text}\n\n`;
}

/**
 * Every text/event-stream answer latchkey sends (a browser's session events, a resource
 * server's revocation feed): the reply hijacked from Fastify, the headers that stop proxies
 * buffering and caching, writes that respect backpressure, and one end.
 */
export class SseWriter {
  private ended = false;

  private constructor(readonly raw: ServerResponse) {}

  /**
   * Takes the reply over and sends the headers, with `headers` (those set so far, when hooks such
   * as CORS must reach the client) first. Null when the client is already gone (`gone`, or the
   * response destroyed during the caller's awaits, when nobody listened for its 'close').
   */
  static open(reply: FastifyReply, headers: Record<string, string> = {}, gone = () => false): SseWriter | null {
    reply.hijack();
    const raw = reply.raw;
    if (raw.destroyed || gone()) return null;
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    return new SseWriter(raw);
  }

  /** Ended here, or the client went. */
  get closed(): boolean {
    return this.ended || this.raw.destroyed;
  }

  /** The socket's buffer is full: a write now would only queue. */
  get backedUp(): boolean {
    return this.raw.writableNeedDrain;
  }

  /** Writes, and resolves once the text is handed to the socket (at once, unless it had to drain) or the stream is gone. */
  write(text: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.raw.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      this.raw.once('drain', resolve);
      this.raw.once('close', resolve);
    });
  }

  /** Writes without waiting for a drain: a heartbeat, or the hot path of a caller that checked `backedUp` first. */
  push(text: string): void {
    if (!this.closed) this.raw.write(text);
  }

  /** Ends the answer, with a last text if still connected; once. */
  end(last?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.raw.destroyed) this.raw.end(last);
  }
}
