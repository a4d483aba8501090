import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-jwt';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/config';
import { RevocationRegistry } from '../sessions/revocation-registry';
import { ACCESS_TOKEN_ALG, SigningKeysService } from './signing-keys.service';
import { bearerToken, isAccessTokenType, readJwtHeader } from './jwt-header';
import type { AccessTokenClaims } from './access-tokens.service';

/** Who is calling, as established by a verified access token. */
export interface Principal {
  userId: string;
  sessionId: string;
  role: 'user' | 'admin';
  tokenId: string;
}

/**
 * passport-jwt with the algorithm, issuer and audience pinned. The key is chosen by `kid` from
 * KeyObjects parsed once; the header is screened first (size, alg, typ, kid), so `alg: none`,
 * HS256 with the public key as secret, a wrong `typ` or an unknown key never reach crypto.
 * Revocation is a Map lookup in the in-memory registry: no database read per request.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    keys: SigningKeysService,
    private readonly registry: RevocationRegistry,
  ) {
    super({
      jwtFromRequest: (request: FastifyRequest) => bearerToken(request.headers.authorization),
      secretOrKeyProvider: (_request: unknown, rawToken: string, done: (err: Error | null, key?: string | Buffer) => void) => {
        const header = readJwtHeader(rawToken);
        const key = header && header.alg === ACCESS_TOKEN_ALG && isAccessTokenType(header.typ) && typeof header.kid === 'string' ? keys.verificationKey(header.kid) : undefined;
        if (!key) return done(new Error('unacceptable token header'));
        // jsonwebtoken accepts a KeyObject; the typings only name strings and buffers.
        done(null, key as unknown as Buffer);
      },
      algorithms: [ACCESS_TOKEN_ALG],
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      ignoreExpiration: false,
    });
  }

  validate(claims: AccessTokenClaims): Principal | false {
    if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || (claims.role !== 'user' && claims.role !== 'admin')) return false;
    if (this.registry.isRevoked(claims.sid)) return false;
    return { userId: claims.sub, sessionId: claims.sid, role: claims.role, tokenId: claims.jti };
  }
}
