import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { uuidv7 } from '../common/ids';
import type { Role } from '../common/role';
import { TokenSigner } from './token-signer';

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
}

/** RFC 9068-style access tokens: `typ: at+jwt`, signed with the current key. */
@Injectable()
export class AccessTokensService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly signer: TokenSigner,
  ) {}

  issue(subject: { userId: string; sessionId: string; role: Role; dpopJkt?: string | null }, now = Date.now()): { token: string; expiresIn: number } {
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
    };
    return { token: this.signer.sign({ ...claims }, 'at+jwt'), expiresIn: this.config.accessTokenTtl };
  }
}
