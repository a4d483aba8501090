import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { deleteBatch } from '../database/batched-delete';
import { TrustedDevice } from './trusted-device.entity';

/** The only place that knows the trusted_devices table's SQL. */
@Injectable()
export class TrustedDevicesRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(device: TrustedDevice, db: Db = this.database.manager): Promise<void> {
    await db.getRepository(TrustedDevice).insert(device);
  }

  findById(id: string): Promise<TrustedDevice | null> {
    return this.database.manager.getRepository(TrustedDevice).findOneBy({ id });
  }

  listForUser(userId: string): Promise<TrustedDevice[]> {
    return this.database.manager.getRepository(TrustedDevice).find({ where: { userId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** Rotation: the presented token's row goes (first one wins); false when it already went. */
  async take(id: string, tokenMac: string, db: Db): Promise<boolean> {
    return (await this.database.exec('DELETE FROM trusted_devices WHERE id = ? AND token_mac = ?', [id, tokenMac], db)) === 1;
  }

  forgetDevice(userId: string, deviceId: string, db?: Db): Promise<number> {
    return this.database.exec('DELETE FROM trusted_devices WHERE user_id = ? AND device_id = ?', [userId, deviceId], db);
  }

  forgetUser(userId: string, db?: Db): Promise<number> {
    return this.database.exec('DELETE FROM trusted_devices WHERE user_id = ?', [userId], db);
  }

  /** Housekeeping: one bounded batch of tokens that expired before `before`. */
  deleteExpired(before: number, batch: number): Promise<number> {
    return deleteBatch(this.database, { table: 'trusted_devices', key: 'id', where: 'expires_at < ?', params: [before] }, batch);
  }
}
