import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { RedisService } from '../redis/redis.service';

/** Prefixed with REDIS_KEY_PREFIX: the sequenced revocations, for the other instances. */
export const REVOCATIONS_CHANNEL = 'revocations';

/**
 * The Redis side of the revocation log: after sequencing, an instance announces the new head and
 * the revoked session ids; every instance hears the others' announcements. Best effort (see
 * RedisService): the database poll covers whatever Redis loses, so this only makes it faster.
 */
@Injectable()
export class RevocationFanOut {
  private readonly logger = new Logger('RevocationLog');

  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  announce(head: number, sessionIds: string[], at = this.clock.now()): void {
    this.redis.publish(REVOCATIONS_CHANNEL, JSON.stringify({ head, ids: sessionIds, at }));
  }

  /**
   * Hears the other instances: `announced` gets the session ids at once (the registry), `moved`
   * the head (the reader catches up). A malformed message is logged and ignored.
   */
  listen(announced: (sessionIds: string[], at: number) => void, moved: (head: number) => void): void {
    this.redis.subscribe(REVOCATIONS_CHANNEL, (message) => {
      try {
        const { head, ids, at } = JSON.parse(message) as { head: unknown; ids: unknown; at: unknown };
        if (Array.isArray(ids) && typeof at === 'number')
          announced(
            ids.filter((id): id is string => typeof id === 'string'),
            at,
          );
        if (typeof head === 'number') moved(head);
      } catch {
        this.logger.warn('ignored a malformed revocation message');
      }
    });
  }

  /** True once this instance both listens and can publish on the revocation channel. */
  get ready(): boolean {
    return this.redis.fanOutReady(REVOCATIONS_CHANNEL);
  }
}
