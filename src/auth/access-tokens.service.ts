import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { APP_CONFIG, AppConfig } from '../config/config';
import { uuidv7 } from '../common/ids';
import { ACCESS_TOKEN_ALG, SigningKeysService } from './signing-keys.service';

export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  role: 'user' | 'admin';
}

/** RFC 9068-style access tokens: `typ: at+jwt`, signed with the current key. */
@Injectable()
export class AccessTokensService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly jwt: JwtService,
    private readonly keys: SigningKeysService,
  ) {}

  issue(subject: { userId: string; sessionId: string; role: 'user' | 'admin' }): { token: string; expiresIn: number } {
    const { kid, privateKey } = this.keys.signingKey;
    const token = this.jwt.sign(
      { sid: subject.sessionId, role: subject.role },
      {
        privateKey,
        algorithm: ACCESS_TOKEN_ALG,
        keyid: kid,
        header: { alg: ACCESS_TOKEN_ALG, kid, typ: 'at+jwt' },
        expiresIn: this.config.accessTokenTtl,
        issuer: this.config.jwtIssuer,
        audience: this.config.jwtAudience,
        subject: subject.userId,
        jwtid: uuidv7(),
      },
    );
    return { token, expiresIn: this.config.accessTokenTtl };
  }
}
