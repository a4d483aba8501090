import { createHash, generateKeyPairSync, KeyObject, randomBytes, sign } from 'node:crypto';

/**
 * A software WebAuthn authenticator for tests: an ES256 key per credential (node:crypto),
 * attestation `none`, real authenticator data (rpIdHash, flags, sign count, attested credential
 * data with AAGUID, credential id and COSE key) and clientDataJSON, answered in the JSON shapes a
 * browser's `PublicKeyCredential.toJSON()` gives (`RegistrationResponseJSON`,
 * `AuthenticationResponseJSON`), which is what @simplewebauthn/server verifies.
 *
 * Every credential is resident (discoverable) and answers with its userHandle. The sign count
 * is settable, and `clone()` copies a credential with its key, to play a cloned authenticator.
 * The server never encodes CBOR itself; the tiny encoder below is only what this test device needs.
 */

/** The subset of PublicKeyCredentialCreationOptionsJSON this device reads. */
export interface CreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName?: string };
  excludeCredentials?: Array<{ id: string; type?: string; transports?: string[] }>;
  authenticatorSelection?: { residentKey?: string; userVerification?: string };
}

/** The subset of PublicKeyCredentialRequestOptionsJSON this device reads. */
export interface RequestOptions {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string; type?: string; transports?: string[] }>;
  userVerification?: string;
}

export interface RegistrationResponseJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  authenticatorAttachment?: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, unknown>;
}

export interface AuthenticationResponseJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
  authenticatorAttachment?: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, unknown>;
}

export interface SoftCredential {
  /** base64url */
  id: string;
  privateKey: KeyObject;
  rpId: string;
  /** base64url of the user.id the RP gave at registration. */
  userHandle: string;
  signCount: number;
}

export interface DeviceOptions {
  /** The origin the "browser" reports in clientDataJSON (default http://localhost:3000). */
  origin?: string;
  /** 16 bytes; default all zeros, as many platform authenticators send with attestation none. */
  aaguid?: Buffer;
  /** BE and BS flags: a synced passkey is backup eligible and backed up. */
  backupEligible?: boolean;
  backedUp?: boolean;
  /** An authenticator with no counter always reports 0 (allowed by the spec when the RP has 0 too). */
  counter?: 'increment' | 'zero';
  transports?: string[];
}

/** What a test may bend in one ceremony, to play a hostile or broken client. */
export interface CeremonyOverrides {
  origin?: string;
  /** The RP id hashed into authenticatorData (a phishing site's). */
  rpId?: string;
  challenge?: string;
  /** false: UP set but UV not (no PIN, no biometric). */
  userVerified?: boolean;
  type?: string;
  /** Answer with this credential, whatever the options allow. */
  credentialId?: string;
  /** Answer with this userHandle instead of the credential's own. */
  userHandle?: string;
}

export class SoftwareAuthenticator {
  readonly credentials = new Map<string, SoftCredential>();
  readonly origin: string;
  private readonly aaguid: Buffer;

  constructor(private readonly options: DeviceOptions = {}) {
    this.origin = options.origin ?? 'http://localhost:3000';
    this.aaguid = options.aaguid ?? Buffer.alloc(16);
    if (this.aaguid.length !== 16) throw new Error('an AAGUID has 16 bytes');
  }

  /** navigator.credentials.create(): a new resident credential, or InvalidStateError for an excluded one. */
  register(options: CreationOptions, overrides: CeremonyOverrides & { reuse?: string } = {}): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    for (const excluded of options.excludeCredentials ?? []) {
      if (this.credentials.has(excluded.id) && excluded.id !== overrides.reuse)
        throw new Error('InvalidStateError: this authenticator already holds an excluded credential');
    }
    let credential: SoftCredential;
    if (overrides.reuse !== undefined) {
      credential = this.get(overrides.reuse);
    } else {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      credential = { id: randomBytes(32).toString('base64url'), privateKey, rpId, userHandle: options.user.id, signCount: 0 };
      this.credentials.set(credential.id, credential);
    }
    const clientDataJSON = this.clientData(overrides.type ?? 'webauthn.create', overrides.challenge ?? options.challenge, overrides.origin);
    const authData = Buffer.concat([
      this.authenticatorDataHead(overrides.rpId ?? rpId, overrides.userVerified ?? true, true, credential.signCount),
      this.aaguid,
      u16(Buffer.from(credential.id, 'base64url').length),
      Buffer.from(credential.id, 'base64url'),
      coseKey(credential.privateKey),
    ]);
    const attestationObject = cbor(
      new Map<unknown, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    return this.credentialJson(credential, clientDataJSON, {
      attestationObject: attestationObject.toString('base64url'),
      transports: this.options.transports ?? ['internal', 'hybrid'],
    });
  }

  /** navigator.credentials.get(): an assertion by the first allowed credential, or by a resident one for this RP. */
  authenticate(options: RequestOptions, overrides: CeremonyOverrides = {}): AuthenticationResponseJSON {
    const rpId = options.rpId ?? new URL(this.origin).hostname;
    const credential = this.pick(rpId, options.allowCredentials ?? [], overrides.credentialId);
    if (this.options.counter !== 'zero') credential.signCount += 1;
    const clientDataJSON = this.clientData(overrides.type ?? 'webauthn.get', overrides.challenge ?? options.challenge, overrides.origin);
    const authenticatorData = this.authenticatorDataHead(
      overrides.rpId ?? rpId,
      overrides.userVerified ?? true,
      false,
      this.options.counter === 'zero' ? 0 : credential.signCount,
    );
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), credential.privateKey);
    return this.credentialJson(credential, clientDataJSON, {
      authenticatorData: authenticatorData.toString('base64url'),
      signature: signature.toString('base64url'),
      userHandle: overrides.userHandle ?? credential.userHandle,
    });
  }

  /** The next assertion reports `count + 1`. */
  setSignCount(credentialId: string, count: number): void {
    this.get(credentialId).signCount = count;
  }

  /** Another device holding the same keys and counter (then each counts on its own): a cloned authenticator. */
  clone(): SoftwareAuthenticator {
    const copy = new SoftwareAuthenticator(this.options);
    for (const [id, c] of this.credentials) copy.credentials.set(id, { ...c });
    return copy;
  }

  get(credentialId: string): SoftCredential {
    const credential = this.credentials.get(credentialId);
    if (!credential) throw new Error(`no credential ${credentialId} on this authenticator`);
    return credential;
  }

  /** The PublicKeyCredential a platform authenticator hands the page (as JSON), around a ceremony's `response`. */
  private credentialJson<R extends object>(credential: SoftCredential, clientDataJSON: Buffer, response: R) {
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key' as const,
      response: { clientDataJSON: clientDataJSON.toString('base64url'), ...response },
      authenticatorAttachment: 'platform' as const,
      clientExtensionResults: {},
    };
  }

  private pick(rpId: string, allow: Array<{ id: string }>, wanted: string | undefined): SoftCredential {
    if (wanted !== undefined) return this.get(wanted);
    const candidates =
      allow.length > 0 ? allow.map((a) => this.credentials.get(a.id)).filter((c): c is SoftCredential => c !== undefined) : [...this.credentials.values()];
    const found = candidates.find((c) => c.rpId === rpId);
    if (!found) throw new Error('NotAllowedError: no credential on this authenticator fits the request');
    return found;
  }

  private clientData(type: string, challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  private authenticatorDataHead(rpId: string, userVerified: boolean, attested: boolean, signCount: number): Buffer {
    let flags = 0x01; // UP
    if (userVerified) flags |= 0x04;
    if (this.options.backupEligible) flags |= 0x08;
    if (this.options.backupEligible && this.options.backedUp) flags |= 0x10;
    if (attested) flags |= 0x40;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(signCount >>> 0);
    return Buffer.concat([sha256(Buffer.from(rpId)), Buffer.from([flags]), count]);
  }
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** The credential's public key as a COSE_Key (RFC 9053): EC2, ES256, P-256. */
function coseKey(privateKey: KeyObject): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  return cbor(
    new Map<unknown, unknown>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
}

/** Deterministic CBOR (RFC 8949) for integers, text, bytes and maps: enough for attestation none. */
export function cbor(value: unknown): Buffer {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('cbor: only integers');
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: cannot encode ${typeof value}`);
}

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.concat([Buffer.from([(major << 5) | 25]), u16(n)]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}
