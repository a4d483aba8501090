import { Injectable } from '@nestjs/common';
import { IsNull } from 'typeorm';
import { Db, DatabaseService } from '../database/database.service';
import type { Numeric } from '../database/columns';
import { SigningKey } from './signing-key.entity';

/** COUNT and MAX over signing_keys as the drivers return them (MySQL may give a BIGINT as text). */
interface TableStateRow {
  n: Numeric;
  created: Numeric | null;
  retired: Numeric | null;
  revoked: Numeric | null;
}

/** The only SQL on `signing_keys`. A retirement or revocation is a time: the key keeps its row. */
@Injectable()
export class SigningKeysRepository {
  constructor(private readonly database: DatabaseService) {}

  find(kid: string, db: Db): Promise<SigningKey | null> {
    return db.getRepository(SigningKey).findOneBy({ kid });
  }

  /** Keys not revoked that still sign at `now` or will (not retired, or retiring later). */
  signingAt(now: number, db: Db): Promise<SigningKey[]> {
    return db
      .getRepository(SigningKey)
      .createQueryBuilder('k')
      .where('k.revoked_at IS NULL AND (k.retired_at IS NULL OR k.retired_at > :now)', { now })
      .getMany();
  }

  /** Keys not revoked and retired after `horizon` (or not at all), newest first: the ones that verify. */
  verifying(horizon: number): Promise<SigningKey[]> {
    return this.database.manager
      .getRepository(SigningKey)
      .createQueryBuilder('k')
      .where('k.revoked_at IS NULL AND (k.retired_at IS NULL OR k.retired_at > :horizon)', { horizon })
      .orderBy('k.created_at', 'DESC')
      .getMany();
  }

  async insert(key: SigningKey, db: Db): Promise<void> {
    await db.getRepository(SigningKey).insert(key);
  }

  /** Every key that signs now or would later stops signing now (an immediate rotation). */
  async retireAllNow(now: number, db: Db): Promise<void> {
    await db
      .getRepository(SigningKey)
      .createQueryBuilder()
      .update()
      .set({ retiredAt: now })
      .where('retired_at IS NULL OR retired_at > :now', { now })
      .execute();
  }

  /** The keys without a retirement retire at `at` (a gradual rotation). */
  async scheduleRetirement(at: number, db: Db): Promise<void> {
    await db.getRepository(SigningKey).update({ retiredAt: IsNull() }, { retiredAt: at });
  }

  async markRevoked(kid: string, now: number, retiredAt: number, db: Db): Promise<void> {
    await db.getRepository(SigningKey).update({ kid }, { revokedAt: now, retiredAt });
  }

  /** A fingerprint of the table: any insert, retirement or revocation changes it. */
  async tableState(): Promise<string> {
    const [row] = await this.database.rows<TableStateRow>(
      'SELECT COUNT(*) AS n, MAX(created_at) AS created, MAX(retired_at) AS retired, MAX(revoked_at) AS revoked FROM signing_keys',
      [],
    );
    return `${row.n}/${row.created}/${row.retired}/${row.revoked}`;
  }
}
