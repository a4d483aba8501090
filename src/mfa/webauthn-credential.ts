/**
 * The shape of a WebAuthn credential as a browser's `PublicKeyCredential.toJSON()` sends it
 * (WebAuthn L3 §5.1: RegistrationResponseJSON, AuthenticationResponseJSON), checked before any
 * of it reaches @simplewebauthn/server: a body of the wrong shape is a 400 `validation_failed`
 * naming the field, never an exception deep in a decoder. Unknown members are refused, as
 * everywhere in the API. What the bytes mean (signature, origin, challenge) is the ceremony's
 * business, not this file's.
 */

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** WebAuthn caps a credential id at 1023 bytes. */
const CREDENTIAL_ID_MAX = 1366;
/** The whole body is capped at 64 KiB; a field cannot be larger. */
const FIELD_MAX = 65_536;
export const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;

type Problem = string | null;

export function registrationCredentialProblem(value: unknown): Problem {
  return credentialProblem(value, {
    clientDataJSON: 'required',
    attestationObject: 'required',
    authenticatorData: 'optional',
    publicKey: 'optional',
    publicKeyAlgorithm: 'integer',
    transports: 'transports',
  });
}

export function assertionCredentialProblem(value: unknown): Problem {
  return credentialProblem(value, {
    clientDataJSON: 'required',
    authenticatorData: 'required',
    signature: 'required',
    userHandle: 'nullable',
  });
}

type Member = 'required' | 'optional' | 'nullable' | 'integer' | 'transports';

function credentialProblem(value: unknown, responseMembers: Record<string, Member>): Problem {
  if (!isPlainObject(value)) return 'must be an object (PublicKeyCredential.toJSON())';
  const unknown = Object.keys(value).find((k) => !['id', 'rawId', 'type', 'response', 'authenticatorAttachment', 'clientExtensionResults'].includes(k));
  if (unknown !== undefined) return `has an unknown member ${JSON.stringify(unknown.slice(0, 40))}`;
  for (const key of ['id', 'rawId'] as const) {
    const v = value[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > CREDENTIAL_ID_MAX || !BASE64URL.test(v))
      return `${key} must be a base64url string of at most ${CREDENTIAL_ID_MAX} characters`;
  }
  if (value.id !== value.rawId) return 'id and rawId must be the same';
  if (value.type !== 'public-key') return 'type must be "public-key"';
  const attachment = value.authenticatorAttachment;
  if (attachment !== undefined && attachment !== null && attachment !== 'platform' && attachment !== 'cross-platform')
    return 'authenticatorAttachment must be "platform" or "cross-platform"';
  const extensions = value.clientExtensionResults;
  if (extensions !== undefined && !isPlainObject(extensions)) return 'clientExtensionResults must be an object';
  const response = value.response;
  if (!isPlainObject(response)) return 'response must be an object';
  for (const key of Object.keys(response))
    if (!Object.hasOwn(responseMembers, key)) return `response has an unknown member ${JSON.stringify(key.slice(0, 40))}`;
  for (const [key, kind] of Object.entries(responseMembers)) {
    const v = response[key];
    if (v === undefined) {
      if (kind === 'required') return `response.${key} is required`;
      continue;
    }
    if (kind === 'integer') {
      if (!Number.isSafeInteger(v)) return `response.${key} must be an integer`;
    } else if (kind === 'transports') {
      if (!Array.isArray(v) || v.length > TRANSPORTS.length || !v.every((t) => typeof t === 'string' && t.length <= 32))
        return `response.${key} must be an array of at most ${TRANSPORTS.length} short strings`;
    } else if (!(kind === 'nullable' && v === null) && (typeof v !== 'string' || v.length > FIELD_MAX || !BASE64URL.test(v))) {
      return `response.${key} must be a base64url string`;
    }
  }
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
