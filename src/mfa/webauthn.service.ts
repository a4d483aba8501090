import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { TRANSPORTS } from './webauthn-credential';

/**
 * The WebAuthn ceremonies (W3C WebAuthn L3 §7), over @simplewebauthn/server: options out,
 * responses verified. It holds no state: the caller stores each challenge server-side, consumes
 * it once, and hands the expected one back here; it also finds the stored passkey by the
 * response's credential id. So this file decides what a valid response is and nothing else.
 *
 * Policy, the same everywhere: user verification required (a passkey counts as two factors only
 * when the device checked its user), resident keys required (so password-less sign-in can find
 * them), attestation none (we do not gate on the authenticator's make), ES256, EdDSA, RS256.
 */

/** COSE algorithm ids (RFC 9053): ES256, EdDSA, RS256. */
export const PASSKEY_ALGORITHMS = [-7, -8, -257];
/** How long a browser may take over a ceremony; the server-side challenge lives as long (5 min). */
export const CEREMONY_TIMEOUT_MS = 5 * 60_000;

export interface RelyingParty {
  id: string;
  name: string;
  /** Every origin a ceremony may come from (WEBAUTHN_ORIGINS). */
  origins: string[];
}

/** A stored passkey, as far as a ceremony needs it. */
export interface PasskeyCredential {
  /** base64url credential id. */
  credentialId: string;
  /** The COSE public key. */
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
}

export interface NewPasskey extends PasskeyCredential {
  backupEligible: boolean;
  backedUp: boolean;
  aaguid: string;
}

export type RegistrationOutcome = { ok: true; passkey: NewPasskey } | { ok: false; reason: 'invalid_attestation' };

/**
 * `sign_count`: a valid signature, but the counter did not move forward (WebAuthn §7.2 step 21):
 * the key may have been cloned. The caller refuses, audits, and keeps the stored counter.
 */
export type AssertionOutcome =
  { ok: true; signCount: number; backedUp: boolean; backupEligible: boolean } | { ok: false; reason: 'invalid_assertion' | 'sign_count'; signCount?: number };

export interface PasskeyUser {
  /** The user's id (a UUID); its 16 bytes are the WebAuthn user handle, which names no one. */
  id: string;
  email: string;
  name: string | null;
}

export class WebAuthnService {
  constructor(private readonly rp: RelyingParty) {}

  /** A fresh challenge: 32 random bytes, base64url (WebAuthn §13.4.3 asks for at least 16). */
  static challenge(): string {
    return randomBytes(32).toString('base64url');
  }

  /** The user handle of a user id: its 16 bytes, base64url. */
  static userHandle(userId: string): string {
    return Buffer.from(userId.replace(/-/g, ''), 'hex').toString('base64url');
  }

  /** The challenge a response answers, read from its clientDataJSON; null when there is none to read. */
  static challengeOf(credential: { response: { clientDataJSON: string } }): string | null {
    try {
      const data: unknown = JSON.parse(Buffer.from(credential.response.clientDataJSON, 'base64url').toString('utf8'));
      const challenge = typeof data === 'object' && data !== null ? (data as { challenge?: unknown }).challenge : undefined;
      return typeof challenge === 'string' && challenge.length > 0 && challenge.length <= 512 ? challenge : null;
    } catch {
      return null;
    }
  }

  registrationOptions(user: PasskeyUser, existing: PasskeyCredential[], challenge: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    return generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userID: Buffer.from(WebAuthnService.userHandle(user.id), 'base64url'),
      userName: user.email,
      userDisplayName: user.name ?? user.email,
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
    });
  }

  async verifyRegistration(credential: RegistrationResponseJSON, expectedChallenge: string): Promise<RegistrationOutcome> {
    try {
      const result = await verifyRegistrationResponse({
        response: credential,
        expectedChallenge,
        expectedOrigin: this.rp.origins,
        expectedRPID: this.rp.id,
        requireUserPresence: true,
        requireUserVerification: true,
        supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
      });
      if (!result.verified) return { ok: false, reason: 'invalid_attestation' };
      const info = result.registrationInfo;
      return {
        ok: true,
        passkey: {
          credentialId: info.credential.id,
          publicKey: info.credential.publicKey,
          signCount: info.credential.counter,
          transports: knownTransports(credential.response.transports),
          backupEligible: info.credentialDeviceType === 'multiDevice',
          backedUp: info.credentialBackedUp,
          aaguid: info.aaguid,
        },
      };
    } catch {
      // Whatever the library refused (origin, RP id, challenge, flags, CBOR): a bad response, not our fault.
      return { ok: false, reason: 'invalid_attestation' };
    }
  }

  /** `allow`: the user's passkeys for a second factor or a step-up; null for a discoverable (password-less) sign-in. */
  authenticationOptions(allow: PasskeyCredential[] | null, challenge: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return generateAuthenticationOptions({
      rpID: this.rp.id,
      allowCredentials: allow === null ? [] : allow.map((c) => ({ id: c.credentialId, transports: c.transports })),
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: CEREMONY_TIMEOUT_MS,
      userVerification: 'required',
    });
  }

  /**
   * Verifies an assertion by `stored` (the caller found it by the response's id and checked it
   * belongs to the right user). The library is given a zero counter so that it never refuses on
   * the counter itself: a response whose signature does not verify is `invalid_assertion`, and
   * only a correctly signed one with a counter that did not move forward is `sign_count`, the
   * clone signal worth an alarm. Both counters zero is an authenticator without a counter: allowed.
   */
  async verifyAuthentication(credential: AuthenticationResponseJSON, expectedChallenge: string, stored: PasskeyCredential): Promise<AssertionOutcome> {
    if (credential.id !== stored.credentialId) return { ok: false, reason: 'invalid_assertion' };
    try {
      const result = await verifyAuthenticationResponse({
        response: credential,
        expectedChallenge,
        expectedOrigin: this.rp.origins,
        expectedRPID: this.rp.id,
        credential: { id: stored.credentialId, publicKey: new Uint8Array(stored.publicKey), counter: 0, transports: stored.transports },
        requireUserVerification: true,
      });
      const info = result.authenticationInfo;
      if (!result.verified || !info.userVerified) return { ok: false, reason: 'invalid_assertion' };
      if ((info.newCounter > 0 || stored.signCount > 0) && info.newCounter <= stored.signCount)
        return { ok: false, reason: 'sign_count', signCount: info.newCounter };
      return { ok: true, signCount: info.newCounter, backedUp: info.credentialBackedUp, backupEligible: info.credentialDeviceType === 'multiDevice' };
    } catch {
      return { ok: false, reason: 'invalid_assertion' };
    }
  }
}

/** RFC 8176 `amr` for a passkey: a synced (backup-eligible) one lives in software (`swk`), else it is bound to hardware (`hwk`). */
export function passkeyAmr(backupEligible: boolean): 'hwk' | 'swk' {
  return backupEligible ? 'swk' : 'hwk';
}

function knownTransports(transports: string[] | undefined): string[] {
  return [...new Set((transports ?? []).filter((t): t is (typeof TRANSPORTS)[number] => (TRANSPORTS as readonly string[]).includes(t)))];
}
