import { Injectable } from '@nestjs/common';
import { AccessTokenVerifier } from '../auth/access-token-verifier';
import { SessionsService } from '../sessions/sessions.service';

/** RFC 7662 §2.2: `active: false` says nothing more, whatever the reason. */
export type Introspection =
  | { active: false }
  | { active: true; token_type: 'access_token'; sub: string; sid: string; role: string; iss: string; aud: string; exp: number; iat: number; jti: string; cnf?: { jkt: string } }
  | { active: true; token_type: 'refresh_token'; sub: string; sid: string; exp: number; cnf?: { jkt: string } };

const INACTIVE: Introspection = Object.freeze({ active: false });

/**
 * RFC 7662 for resource servers that prefer to ask. The same rules as everywhere else: an
 * access token as latchkey's own guard checks it (CPU only, the revocation registry
 * included), a refresh token by its chain (authentic, current or within the grace window,
 * session live). It never changes anything: introspecting a replayed refresh token does not
 * revoke its chain, as presenting it at the token endpoint would.
 */
@Injectable()
export class IntrospectionService {
  constructor(
    private readonly accessTokens: AccessTokenVerifier,
    private readonly sessions: SessionsService,
  ) {}

  async introspect(token: string, hint: string | undefined): Promise<Introspection> {
    const order = hint === 'refresh_token' ? [this.refreshToken, this.accessToken] : [this.accessToken, this.refreshToken];
    for (const kind of order) {
      const answer = await kind.call(this, token);
      if (answer) return answer;
    }
    return INACTIVE;
  }

  private async accessToken(token: string): Promise<Introspection | null> {
    const claims = this.accessTokens.verify(token);
    if (!claims) return null;
    const { sub, sid, role, iss, aud, exp, iat, jti, cnf } = claims;
    // RFC 9449 §6.2: a bound token's key, so that the resource server can demand its proof.
    return { active: true, token_type: 'access_token', sub, sid, role, iss, aud, exp, iat, jti, ...(cnf ? { cnf: { jkt: cnf.jkt } } : {}) };
  }

  private async refreshToken(token: string): Promise<Introspection | null> {
    const inspection = await this.sessions.inspect(token);
    if (!inspection.authentic || (inspection.state !== 'rotate' && inspection.state !== 'grace')) return null;
    const { session } = inspection;
    return { active: true, token_type: 'refresh_token', sub: session.userId, sid: session.id, exp: Math.floor(session.expiresAt / 1000), ...(session.dpopJkt ? { cnf: { jkt: session.dpopJkt } } : {}) };
  }
}
