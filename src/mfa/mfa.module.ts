import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { MailModule } from '../mail/mail.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { ChallengesRepository } from './challenges.repository';
import { FactorsRepository } from './factors.repository';
import { FactorsService } from './factors.service';
import { MfaChallenges } from './mfa-challenges';
import { MfaKeys } from './mfa-keys';
import { MfaMails } from './mfa-mails';
import { MfaHousekeeping } from './mfa-housekeeping';
import { MfaService } from './mfa.service';
import { RecoveryCodes } from './recovery-codes';
import { RecoveryCodesRepository } from './recovery-codes.repository';
import { SecondFactorMethods } from './second-factor-methods';
import { TotpMethod } from './totp';
import { PasskeyMethod } from './passkeys';
import { WebAuthnChallengesRepository } from './webauthn-challenges.repository';
import { TrustedDevices } from './trusted-devices';
import { TrustedDevicesRepository } from './trusted-devices.repository';

/**
 * Second factors: the factors themselves (TOTP here, passkeys plugged into the same registry),
 * the login's second step, step-up checks, recovery codes and trusted devices. Answers with
 * outcomes and ApiErrors; auth turns them into sessions and tokens, and owns the routes.
 */
@Module({
  imports: [UsersModule, SessionsModule, AuditModule, RateLimitModule, MailModule],
  providers: [
    MfaService,
    FactorsService,
    SecondFactorMethods,
    TotpMethod,
    PasskeyMethod,
    RecoveryCodes,
    MfaChallenges,
    MfaKeys,
    MfaMails,
    MfaHousekeeping,
    TrustedDevices,
    FactorsRepository,
    ChallengesRepository,
    RecoveryCodesRepository,
    TrustedDevicesRepository,
    WebAuthnChallengesRepository,
  ],
  exports: [MfaService, FactorsService, SecondFactorMethods, PasskeyMethod, MfaChallenges, MfaKeys, TrustedDevices, FactorsRepository, MfaHousekeeping],
})
export class MfaModule {}
