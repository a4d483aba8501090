import { randomBytes } from 'node:crypto';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { uuidv7 } from '../common/ids';
import type { Db } from '../database/database.service';
import { MfaFactor } from './mfa-factor.entity';
import { MfaKeys } from './mfa-keys';
import { RecoveryCodesRepository } from './recovery-codes.repository';
import { SecondFactorAttempt, SecondFactorMethod, SecondFactorMethods, SecondFactorProof, SecondFactorResult } from './second-factor-methods';

export const RECOVERY_CODES_PER_SET = 10;
/** Crockford's base32 without the look-alikes: 10 characters are 50 bits, shown as xxxxx-xxxxx. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const RECOVERY_CODE = /^[0-9a-z]{5}-?[0-9a-z]{5}$/;

/** Codes are typed by hand from paper: case, the dash and surrounding blanks do not matter. */
function normalize(code: string): string | null {
  const c = code.trim().toLowerCase();
  return RECOVERY_CODE.test(c) ? c.replace('-', '') : null;
}

/**
 * Recovery codes: ten single-use codes, shown once, stored as keyed hashes (HMAC under a key
 * derived from KEY_ENCRYPTION_KEY: 50 bits would not survive an offline guess against a plain
 * hash). They are a second factor only, never a password.
 */
@Injectable()
export class RecoveryCodes implements SecondFactorMethod, OnModuleInit {
  readonly name = 'recovery_code' as const;

  constructor(
    private readonly clock: Clock,
    private readonly keys: MfaKeys,
    private readonly repository: RecoveryCodesRepository,
    private readonly methods: SecondFactorMethods,
  ) {}

  onModuleInit(): void {
    this.methods.register(this);
  }

  /** Offered only next to an active factor (a user whose factors are all gone has no second step). */
  async available(userId: string, factors: MfaFactor[]): Promise<boolean> {
    return factors.some((f) => f.activatedAt !== null) && (await this.repository.remaining(userId)) > 0;
  }

  remaining(userId: string): Promise<number> {
    return this.repository.remaining(userId);
  }

  /** A new set in the caller's transaction; the old set dies. The codes are returned this once. */
  async regenerate(userId: string, db: Db): Promise<string[]> {
    const now = this.clock.now();
    const codes = Array.from({ length: RECOVERY_CODES_PER_SET }, () => {
      const bytes = randomBytes(10);
      const raw = [...bytes].map((b) => ALPHABET[b & 31]).join('');
      return `${raw.slice(0, 5)}-${raw.slice(5)}`;
    });
    await this.repository.replace(
      userId,
      codes.map((code) => ({ id: uuidv7(now), userId, codeHash: this.hash(userId, normalize(code)!), createdAt: now, usedAt: null })),
      db,
    );
    return codes;
  }

  deleteAll(userId: string, db: Db): Promise<number> {
    return this.repository.deleteAllForUser(userId, db);
  }

  async verify(attempt: SecondFactorAttempt, proof: SecondFactorProof): Promise<SecondFactorResult> {
    const code = typeof proof.code === 'string' ? normalize(proof.code) : null;
    if (code !== null && (await this.repository.use(attempt.userId, this.hash(attempt.userId, code), this.clock.now())))
      return { ok: true, amr: ['otp'], factorId: null };
    return { ok: false, factorIds: [] };
  }

  private hash(userId: string, normalized: string): string {
    return this.keys.mac('recovery_code', `${userId}\u0000${normalized}`);
  }
}
