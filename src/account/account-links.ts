import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import { subkey } from '../common/sealed';
import { Db } from '../database/database.service';
import { AccountLink, LinkPurpose } from './account-link.entity';
import { AccountLinksRepository } from './account-links.repository';
import { decodeCanonicalBase64url } from '../common/base64url';

const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

/**
 * One-time links. A link's token is `<id>.<mac>`, the MAC being HMAC-SHA256 over the purpose
 * and id under a key derived from KEY_ENCRYPTION_KEY: 256 bits nobody can guess, nothing to
 * store (so nothing to steal from the database), and a token made for one purpose is worthless
 * for another. The row says what the link may still do: redeeming is a compare-and-swap on
 * `used_at`, so of any number of concurrent redemptions exactly one wins.
 */
@Injectable()
export class AccountLinks {
  private readonly key: Buffer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly clock: Clock,
    private readonly repository: AccountLinksRepository,
  ) {
    this.key = subkey(config.keyEncryptionKey, 'latchkey account links');
  }

  /** A new link, inside the caller's transaction. `supersede`: the user's unused links of this purpose stop working. */
  async issue(
    purpose: LinkPurpose,
    userId: string,
    options: { expiresAt: number; sessionId?: string; email?: string; supersede: boolean },
    db: Db,
  ): Promise<AccountLink> {
    const now = this.clock.now();
    if (options.supersede) await this.repository.supersede(userId, purpose, now, db);
    const link: AccountLink = {
      id: uuidv7(now),
      userId,
      purpose,
      sessionId: options.sessionId ?? null,
      email: options.email ?? null,
      createdAt: now,
      expiresAt: options.expiresAt,
      usedAt: null,
      supersededAt: null,
    };
    await this.repository.insert(link, db);
    return link;
  }

  tokenFor(link: Pick<AccountLink, 'id' | 'purpose'>): string {
    return `${link.id}.${this.mac(link.purpose, link.id).toString('base64url')}`;
  }

  /** The link a token stands for, if the token is authentic and the link can still be used; changes nothing. */
  async usable(token: string, purpose: LinkPurpose, db?: Db): Promise<AccountLink | null> {
    const id = this.authenticId(token, purpose);
    const link = id ? await this.repository.findById(id, db) : null;
    return link && link.purpose === purpose && this.isUsable(link) ? link : null;
  }

  isUsable(link: AccountLink): boolean {
    return link.usedAt === null && link.supersededAt === null && link.expiresAt > this.clock.now();
  }

  /** Uses the link inside the caller's transaction; null when it is unknown, forged, used, superseded, expired, or another redemption won. */
  async redeem(token: string, purpose: LinkPurpose, db: Db): Promise<AccountLink | null> {
    const link = await this.usable(token, purpose, db);
    if (!link || !(await this.repository.use(link.id, purpose, this.clock.now(), db))) return null;
    return link;
  }

  findById(id: string, db?: Db): Promise<AccountLink | null> {
    return this.repository.findById(id, db);
  }

  /** `createdAfter`: only the links made after that time (a revert ends the changes that came after it, not the ones before). */
  supersede(userId: string, purpose: LinkPurpose, db: Db, createdAfter?: number): Promise<void> {
    return this.repository.supersede(userId, purpose, this.clock.now(), db, createdAfter);
  }

  countSince(userId: string, purpose: LinkPurpose, since: number, db: Db): Promise<number> {
    return this.repository.countSince(userId, purpose, since, db);
  }

  /** Account deletion: every link of the user, of any purpose, goes. */
  deleteForUser(userId: string, db: Db): Promise<number> {
    return this.repository.deleteForUser(userId, db);
  }

  private authenticId(token: string, purpose: LinkPurpose): string | null {
    const match = TOKEN.exec(token);
    if (!match) return null;
    const presented = decodeCanonicalBase64url(match[2]);
    const expected = this.mac(purpose, match[1]);
    return presented !== null && presented.length === expected.length && timingSafeEqual(presented, expected) ? match[1] : null;
  }

  private mac(purpose: LinkPurpose, id: string): Buffer {
    return createHmac('sha256', this.key).update(`${purpose}.${id}`).digest();
  }
}
