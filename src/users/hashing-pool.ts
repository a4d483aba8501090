import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import { ClientGone } from '../common/client-gone';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Bounds the argon2 work: at most ARGON2_WORKERS hashes run at once, at most ARGON2_QUEUE wait,
 * and anything beyond is answered 503 with Retry-After *before* it is hashed (load shedding).
 * A login flood then costs a fixed share of the CPU, however many connections it opens,
 * instead of growing a queue that every other request waits behind, and the logins that are
 * accepted are answered in bounded time.
 */
@Injectable()
export class HashingPool {
  private readonly logger = new Logger('PasswordHashing');
  private active = 0;
  /** Requests admitted at the door whose answer has not gone yet. */
  private admitted = 0;
  private readonly waiting: Array<() => void> = [];
  private shedSinceLog = 0;
  private lastLog = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
  ) {}

  /** The 503 a request gets at the door, before its body is read, while there is no room; null otherwise. */
  shedAtTheDoor(): ApiError | null {
    return this.noRoom ? this.shed() : null;
  }

  /**
   * Reserves room for a password-hashing request from the moment its body has arrived until its
   * answer has gone (`release`), so that the requests between there and their hash (validation,
   * the account lookup) count too. Without the reservation a flood got past the door by the
   * hundred while the queue was still filling and crowded the database pool, which then refused
   * refreshes and admin calls as well. Gives the 503 instead when there is no room.
   */
  admit(): { release: () => void } | ApiError {
    if (this.noRoom) return this.shed();
    this.admitted++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.admitted--;
      },
    };
  }

  private get noRoom(): boolean {
    return this.admitted >= this.config.argon2Workers + this.config.argon2Queue;
  }

  /** The queue's own bound, for callers that did not come through the door (start-up, the CLI). */
  private get full(): boolean {
    return this.active >= this.config.argon2Workers && this.waiting.length >= this.config.argon2Queue;
  }

  /** Runs `work` in a slot; while it waits, a client that hangs up (`gone`) leaves the queue unhashed. */
  async run<T>(work: () => Promise<T>, gone?: AbortSignal): Promise<T> {
    if (this.active >= this.config.argon2Workers) {
      if (this.full) throw this.shed();
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          gone?.removeEventListener('abort', leave);
          resolve();
        };
        const leave = () => {
          const at = this.waiting.indexOf(turn);
          if (at >= 0) this.waiting.splice(at, 1);
          this.metrics.hashingQueue.set(this.waiting.length);
          reject(new ClientGone('waiting to be hashed'));
        };
        this.waiting.push(turn);
        this.metrics.hashingQueue.set(this.waiting.length);
        if (gone?.aborted) leave();
        else gone?.addEventListener('abort', leave, { once: true });
      });
      this.metrics.hashingQueue.set(this.waiting.length);
    }
    this.active++;
    this.metrics.hashingActive.set(this.active);
    try {
      return await work();
    } finally {
      this.active--;
      this.metrics.hashingActive.set(this.active);
      // The slot goes straight to the longest waiter.
      this.waiting.shift()?.();
    }
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Requests holding room (admitted, not yet answered). */
  get inFlight(): number {
    return this.admitted;
  }

  private shed(): ApiError {
    this.metrics.shed.inc();
    this.shedSinceLog++;
    const now = this.clock.now();
    if (now - this.lastLog >= 10_000) {
      this.logger.warn(
        `password hashing saturated: ${this.shedSinceLog} request(s) answered 503 before hashing in the last ${Math.round((now - (this.lastLog || now)) / 1000)} s (ARGON2_WORKERS=${this.config.argon2Workers}, ARGON2_QUEUE=${this.config.argon2Queue})`,
      );
      this.shedSinceLog = 0;
      this.lastLog = now;
    }
    return ApiError.serviceUnavailable('Too many sign-ins at once; try again in a moment.');
  }
}
