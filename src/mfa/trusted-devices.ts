import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import { iso } from '../common/time';
import type { Db } from '../database/database.service';
import { MfaKeys } from './mfa-keys';
import { TrustedDevicesRepository } from './trusted-devices.repository';

const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;
export const TRUSTED_DEVICE_TOKEN_MAX_LENGTH = 80;

/** What the user may see of a trusted device: never its token's MAC, nor its id (the first half of the token). */
export interface TrustedDeviceView {
  deviceId: string;
  createdAt: string;
  expiresAt: string;
}

/**
 * "Remember this device" (TRUSTED_DEVICE_TTL): a token bound to the user and the device id,
 * stored as an HMAC, good for one login and replaced by a new one at that login (rotation: a
 * copied token works once, for whoever is first). A login with it skips the second step, and
 * its session is honestly `aal1` with `amr: ["pwd"]`.
 */
@Injectable()
export class TrustedDevices {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly keys: MfaKeys,
    private readonly repository: TrustedDevicesRepository,
  ) {}

  get enabled(): boolean {
    return this.config.trustedDeviceTtl !== null;
  }

  /** A new token for the device, or null when TRUSTED_DEVICE_TTL is off. */
  async issue(userId: string, deviceId: string, db?: Db): Promise<{ token: string; maxAge: number } | null> {
    const ttl = this.config.trustedDeviceTtl;
    if (ttl === null) return null;
    const now = this.clock.now();
    const id = uuidv7(now);
    const token = `${id}.${randomBytes(32).toString('base64url')}`;
    await this.repository.insert({ id, userId, deviceId, tokenMac: this.keys.mac('trusted_device', token), createdAt: now, expiresAt: now + ttl * 1000 }, db);
    return { token, maxAge: ttl };
  }

  /** Uses up the token if it is this user's, for this device, and unexpired: true once, for the first caller. */
  async redeem(token: unknown, userId: string, deviceId: string | undefined, db: Db): Promise<boolean> {
    if (!this.enabled || deviceId === undefined || typeof token !== 'string' || token.length > TRUSTED_DEVICE_TOKEN_MAX_LENGTH) return false;
    const m = TOKEN.exec(token);
    if (!m) return false;
    const row = await this.repository.findById(m[1]);
    if (!row || !this.keys.matches('trusted_device', token, row.tokenMac)) return false;
    if (row.userId !== userId || row.deviceId !== deviceId || row.expiresAt <= this.clock.now()) return false;
    return this.repository.take(row.id, row.tokenMac, db);
  }

  /** The user's remembered devices (expired ones until housekeeping removes them). */
  async list(userId: string): Promise<TrustedDeviceView[]> {
    return (await this.repository.listForUser(userId)).map((d) => ({ deviceId: d.deviceId, createdAt: iso(d.createdAt)!, expiresAt: iso(d.expiresAt)! }));
  }

  forgetDevice(userId: string, deviceId: string, db?: Db): Promise<number> {
    return this.repository.forgetDevice(userId, deviceId, db);
  }

  forgetUser(userId: string, db?: Db): Promise<number> {
    return this.repository.forgetUser(userId, db);
  }
}
