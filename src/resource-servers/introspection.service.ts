import { Injectable } from '@nestjs/common';
import { AccessTokenVerifier } from '../auth/access-token-verifier';
import { SessionsService } from '../sessions/sessions.service';

/** RFC 7662 §2.2: `active: false` says nothing more, whatever the reason. */
export type Introspection =
  | { active: false }
  | ({
      active: true;
      token_type: 'access_token';
      sub: string;
      sid: string;
      role: string;
      iss: string;
      aud: string | readonly string[];
      exp: number;
      iat: number;
      jti: string;
      cnf?: { jkt: string };
    } & AssuranceClaims)
  | ({ active: true; token_type: 'refresh_token'; sub: string; sid: string; exp: number; cnf?: { jkt: string } } & AssuranceClaims);

/** How the session was authenticated (acr, RFC 8176 amr, auth_time in epoch seconds): what a resource server decides a step-up by. */
interface AssuranceClaims {
  acr: string;
  amr: readonly string[];
  auth_time: number;
}

const INACTIVE: Introspection = Object.freeze({ active: false });

/**
 * RFC 7662 for resource servers that prefer to ask. The same rules as everywhere else: an
 * access token as latchkey's own guard checks it (CPU only, the revocation registry
 * included), a refresh token by its chain (authentic, current or within the grace window,
 * session live). It never changes anything: introspecting a replayed refresh token does not
 * revoke its chain, as presenting it at the token endpoint would. A token of a session that
 * must still enrol a second factor (MFA_REQUIRED) is inactive here: it works nowhere but
 * latchkey's own enrolment routes.
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
    // A session that must still enrol a second factor holds a token for latchkey's enrolment routes only.
    if (claims.mfa_enrollment_required) return INACTIVE;
    const { sub, sid, role, iss, aud, exp, iat, jti, cnf } = claims;
    // Tokens signed before v3 carry no assurance: a password-only aal1, as the guard reads them.
    const assurance = { acr: claims.acr ?? 'aal1', amr: claims.amr ?? ['pwd'], auth_time: claims.auth_time ?? iat };
    // RFC 9449 §6.2: a bound token's key, so that the resource server can demand its proof.
    return { active: true, token_type: 'access_token', sub, sid, role, iss, aud, exp, iat, jti, ...assurance, ...(cnf ? { cnf: { jkt: cnf.jkt } } : {}) };
  }

  private async refreshToken(token: string): Promise<Introspection | null> {
    const inspection = await this.sessions.inspect(token);
    if (!inspection.authentic || (inspection.state !== 'rotate' && inspection.state !== 'grace')) return null;
    const { session } = inspection;
    if (session.mfaEnrollmentRequired) return INACTIVE;
    const assurance = { acr: session.assurance.acr, amr: session.assurance.amr, auth_time: Math.floor(session.assurance.authTime / 1000) };
    return {
      active: true,
      token_type: 'refresh_token',
      sub: session.userId,
      sid: session.id,
      exp: Math.floor(session.expiresAt / 1000),
      ...assurance,
      ...(session.dpopJkt ? { cnf: { jkt: session.dpopJkt } } : {}),
    };
  }
}
