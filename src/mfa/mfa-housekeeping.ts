import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { Clock } from '../common/clock';
import { inBatches } from '../common/batches';
import { ChallengesRepository } from './challenges.repository';
import { TrustedDevicesRepository } from './trusted-devices.repository';
import { WebAuthnChallengesRepository } from './webauthn-challenges.repository';

/** Keep spent second steps a day (they explain a support case), then delete them. */
const CHALLENGE_RETENTION_MS = 86_400_000;

/** Deletes expired mfaTokens, trusted-device tokens and unanswered WebAuthn challenges, in bounded batches, every hour. */
@Injectable()
export class MfaHousekeeping {
  private readonly logger = new Logger(MfaHousekeeping.name);
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly challenges: ChallengesRepository,
    private readonly trustedDevices: TrustedDevicesRepository,
    private readonly webauthnChallenges: WebAuthnChallengesRepository,
  ) {}

  @Cron(CronExpression.EVERY_HOUR)
  async scheduled(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { challenges, trustedDevices, webauthnChallenges } = await this.run();
      if (challenges || trustedDevices || webauthnChallenges)
        this.logger.log(
          `housekeeping deleted ${challenges} mfa challenges, ${trustedDevices} trusted-device tokens and ${webauthnChallenges} WebAuthn challenges`,
        );
    } catch (error) {
      this.logger.warn(`mfa housekeeping failed: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  async run(now = this.clock.now()): Promise<{ challenges: number; trustedDevices: number; webauthnChallenges: number }> {
    return {
      challenges: await inBatches((n) => this.challenges.deleteExpired(now - CHALLENGE_RETENTION_MS, n)),
      trustedDevices: await inBatches((n) => this.trustedDevices.deleteExpired(now, n)),
      // Anyone may ask for sign-in options: the unanswered ones must not pile up.
      webauthnChallenges: await inBatches((n) => this.webauthnChallenges.deleteExpired(now, n)),
    };
  }
}
