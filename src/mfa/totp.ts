import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Secret, TOTP } from 'otpauth';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Clock } from '../common/clock';
import type { Db } from '../database/database.service';
import { FactorsRepository } from './factors.repository';
import { MfaFactor } from './mfa-factor.entity';
import { MfaKeys } from './mfa-keys';
import { SecondFactorAttempt, SecondFactorMethod, SecondFactorMethods, SecondFactorProof, SecondFactorResult } from './second-factor-methods';

/** RFC 6238 as every authenticator app does it: SHA-1, 6 digits, 30-second steps, ±1 step of clock drift. */
const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
const WINDOW = 1;
export const TOTP_CODE = /^[0-9]{6}$/;

/** TOTP authenticators (RFC 6238, through the `otpauth` package): enrolment and verification. */
@Injectable()
export class TotpMethod implements SecondFactorMethod, OnModuleInit {
  readonly name = 'totp' as const;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly keys: MfaKeys,
    private readonly factors: FactorsRepository,
    private readonly methods: SecondFactorMethods,
  ) {}

  onModuleInit(): void {
    this.methods.register(this);
  }

  async available(_userId: string, factors: MfaFactor[]): Promise<boolean> {
    return factors.some((f) => f.type === 'totp' && f.activatedAt !== null && f.lockedAt === null);
  }

  /** A new secret (160 bits, RFC 4226's recommendation) for a pending factor, sealed for the row, and the otpauth:// URI for the QR code. */
  newSecret(factorId: string, accountName: string): { secret: string; sealed: string; otpauthUri: string } {
    const secret = new Secret({ size: 20 });
    const totp = new TOTP({ ...TOTP_PARAMS, issuer: this.config.webauthnRpName, label: accountName, secret });
    return { secret: secret.base32, sealed: this.keys.sealTotpSecret(factorId, secret.base32), otpauthUri: totp.toString() };
  }

  /**
   * The step a code is valid for right now (±1 step), or null. The step, not the code, is what
   * is remembered: a code is refused again, and so is any code of an earlier step.
   */
  stepOf(factor: MfaFactor, code: string): number | null {
    if (!TOTP_CODE.test(code) || factor.totpSecret === null) return null;
    const totp = new TOTP({ ...TOTP_PARAMS, secret: Secret.fromBase32(this.keys.unsealTotpSecret(factor.id, factor.totpSecret)) });
    const timestamp = this.clock.now();
    const delta = totp.validate({ token: code, timestamp, window: WINDOW });
    return delta === null ? null : totp.counter({ timestamp }) + delta;
  }

  /** A pending factor's first code activates it (compare-and-swap: one activation, no replayed code). */
  async activate(factor: MfaFactor, code: string, db?: Db): Promise<boolean> {
    const step = this.stepOf(factor, code);
    return step !== null && (await this.factors.acceptTotpStep(factor.id, step, this.clock.now(), true, db));
  }

  async verify(attempt: SecondFactorAttempt, proof: SecondFactorProof): Promise<SecondFactorResult> {
    const candidates = attempt.factors.filter((f) => f.type === 'totp' && f.activatedAt !== null && f.lockedAt === null);
    const code = typeof proof.code === 'string' ? proof.code : '';
    for (const factor of candidates) {
      const step = this.stepOf(factor, code);
      if (step !== null && (await this.factors.acceptTotpStep(factor.id, step, this.clock.now(), false)))
        return { ok: true, amr: ['otp'], factorId: factor.id };
    }
    return { ok: false, factorIds: candidates.map((f) => f.id) };
  }
}
