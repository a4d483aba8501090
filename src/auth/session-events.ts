import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Clock } from '../common/clock';
import { SseWriter, sseComment, sseMessage } from '../common/sse';
import { RevocationRegistry } from '../sessions/revocation-registry';
import type { Principal } from './jwt.strategy';
import { OpenStreams } from './open-streams';

const HEARTBEAT_MS = 25_000;

/**
 * A browser's watch on its own session: Server-Sent Events that say `revoked` the moment this
 * instance learns the session was revoked (anywhere: its own commits, the other instances' over
 * Redis, the revocation log), so every tab signs out within a second without polling. No I/O:
 * the registry calls back. The stream ends with `expired` when the access token that opened it
 * expires (the client reopens it with the next one), and when latchkey shuts down. Each stream
 * takes a slot of OpenStreams (per session, per user, in all) or is refused with 429/503.
 */
@Injectable()
export class SessionEvents implements BeforeApplicationShutdown {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly registry: RevocationRegistry,
    private readonly streams: OpenStreams,
    private readonly clock: Clock,
  ) {}

  stream(principal: Principal, reply: FastifyReply): void {
    const release = this.streams.open({ sessionId: principal.sessionId, userId: principal.userId });
    // The headers set so far (CORS among them) go out with the hijacked answer.
    const sse = SseWriter.open(reply, reply.getHeaders() as Record<string, string>);
    if (!sse) return release(); // gone before the stream began
    sse.push(sseComment('watching this session'));
    let done = false;
    let stopWatching = (): void => undefined;
    const heartbeat = setInterval(() => sse.push(sseComment('keep-alive')), HEARTBEAT_MS);
    const expiry = setTimeout(() => finish('expired'), Math.max(0, principal.expiresAt - this.clock.now()));
    const finish = (event?: 'revoked' | 'expired') => {
      if (done) return;
      done = true;
      release();
      stopWatching();
      clearInterval(heartbeat);
      clearTimeout(expiry);
      this.open.delete(finish);
      sse.end(event ? sseMessage({ event, data: '{}' }) : undefined);
    };
    sse.raw.once('close', () => finish());
    this.open.add(finish);
    // Last: it calls back at once when the session was revoked since the guard looked.
    stopWatching = this.registry.watch(principal.sessionId, () => finish('revoked'));
    if (done) stopWatching();
  }

  beforeApplicationShutdown(): void {
    for (const finish of [...this.open]) finish();
  }
}
