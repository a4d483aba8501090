import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { uuidv7 } from '../common/ids';
import type { Role } from '../common/role';
import { TokenSigner } from './token-signer';
import type { Acr, Amr, Assurance } from '../sessions/assurance';

export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  role: Role;
  /** RFC 9449 §6: the DPoP key a bound session's tokens must be presented with. */
  cnf?: { jkt: string };
  /** The session's assurance (sessions/assurance.ts): level, RFC 8176 methods, last authentication (epoch seconds). */
  acr: Acr;
  amr: Amr[];
  auth_time: number;
  /** MFA_REQUIRED covers this user and they have no second factor yet: latchkey lets them enrol, little else. */
  mfa_enrollment_required?: true;
}

/** RFC 9068-style access tokens: `typ: at+jwt`, signed with the current key. */
@Injectable()
export class AccessTokensService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly signer: TokenSigner,
  ) {}

  issue(
    subject: { userId: string; sessionId: string; role: Role; dpopJkt?: string | null; assurance: Assurance; mfaEnrollmentRequired?: boolean },
    now: number,
  ): { token: string; expiresIn: number } {
    const iat = Math.floor(now / 1000);
    const claims: AccessTokenClaims = {
      iss: this.config.jwtIssuer,
      aud: this.config.jwtAudience,
      sub: subject.userId,
      sid: subject.sessionId,
      jti: uuidv7(now),
      iat,
      exp: iat + this.config.accessTokenTtl,
      role: subject.role,
      ...(subject.dpopJkt ? { cnf: { jkt: subject.dpopJkt } } : {}),
      acr: subject.assurance.acr,
      amr: subject.assurance.amr,
      auth_time: Math.floor(subject.assurance.authTime / 1000),
      ...(subject.mfaEnrollmentRequired ? { mfa_enrollment_required: true as const } : {}),
    };
    return { token: this.signer.sign({ ...claims }, 'at+jwt'), expiresIn: this.config.accessTokenTtl };
  }
}
