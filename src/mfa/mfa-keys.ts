import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { seal, subkey, unseal } from '../common/sealed';

/**
 * The keys of the second-factor module, each derived from KEY_ENCRYPTION_KEY for one purpose:
 * TOTP secrets are sealed at rest (AES-256-GCM, bound to their factor's id), and the tokens it
 * hands out (mfaToken, trusted devices) and recovery codes are stored only as HMACs, so the
 * tables alone yield nothing usable.
 */
@Injectable()
export class MfaKeys {
  private readonly totpKey: Buffer;
  private readonly macKey: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.totpKey = subkey(config.keyEncryptionKey, 'latchkey mfa totp secret');
    this.macKey = subkey(config.keyEncryptionKey, 'latchkey mfa token mac');
  }

  sealTotpSecret(factorId: string, base32: string): string {
    return seal(this.totpKey, Buffer.from(base32, 'utf8'), `totp:${factorId}`);
  }

  unsealTotpSecret(factorId: string, sealed: string): string {
    return unseal(this.totpKey, sealed, `totp:${factorId}`).toString('utf8');
  }

  /** HMAC-SHA256, hex: what is stored of a token or code, for one purpose. */
  mac(purpose: 'challenge' | 'recovery_code' | 'trusted_device', value: string): string {
    return createHmac('sha256', this.macKey).update(`${purpose}\u0000${value}`).digest('hex');
  }

  /** Constant-time comparison of a presented value's MAC with a stored one. */
  matches(purpose: 'challenge' | 'recovery_code' | 'trusted_device', value: string, storedMac: string): boolean {
    const a = Buffer.from(this.mac(purpose, value), 'hex');
    const b = Buffer.from(storedMac, 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
