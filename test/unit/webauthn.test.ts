import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewPasskey, RelyingParty, WebAuthnService, passkeyAmr } from '../../src/mfa/webauthn.service';
import { assertionCredentialProblem, registrationCredentialProblem } from '../../src/mfa/webauthn-credential';
import { SoftwareAuthenticator } from '../support/webauthn';

/**
 * The WebAuthn ceremonies against the software authenticator of test/support/webauthn.ts:
 * real keys, real authenticator data, verified by @simplewebauthn/server. No HTTP, no database.
 */

const RP: RelyingParty = { id: 'localhost', name: 'latchkey', origins: ['http://localhost:3000'] };
const USER = { id: '0190f4c2-8a6b-7c3d-9e1f-123456789abc', email: 'ada@example.com', name: 'Ada' };

async function registered(service: WebAuthnService, device: SoftwareAuthenticator): Promise<NewPasskey> {
  const challenge = WebAuthnService.challenge();
  const options = await service.registrationOptions(USER, [], challenge);
  const outcome = await service.verifyRegistration(device.register(options), challenge);
  assert.ok(outcome.ok, 'registration verifies');
  return outcome.passkey;
}

async function assertion(service: WebAuthnService, device: SoftwareAuthenticator, passkey: NewPasskey, overrides = {}) {
  const challenge = WebAuthnService.challenge();
  const options = await service.authenticationOptions([passkey], challenge);
  return service.verifyAuthentication(device.authenticate(options, overrides), challenge, passkey);
}

describe('WebAuthn ceremonies', () => {
  const service = new WebAuthnService(RP);

  it('registration options: resident key and user verification required, attestation none, ES256/EdDSA/RS256, the user handle is the id', async () => {
    const existing = { credentialId: 'AAAA', publicKey: new Uint8Array(), signCount: 0, transports: ['usb'] };
    const options = await service.registrationOptions(USER, [existing], WebAuthnService.challenge());
    assert.equal(options.rp.id, 'localhost');
    assert.equal(options.authenticatorSelection?.residentKey, 'required');
    assert.equal(options.authenticatorSelection?.userVerification, 'required');
    assert.equal(options.attestation, 'none');
    assert.deepEqual(
      options.pubKeyCredParams.map((p) => p.alg),
      [-7, -8, -257],
    );
    assert.deepEqual(
      options.excludeCredentials?.map((c) => c.id),
      ['AAAA'],
    );
    assert.equal(options.user.id, WebAuthnService.userHandle(USER.id));
    assert.equal(Buffer.from(options.user.id, 'base64url').length, 16);
  });

  it('registers a passkey: id, COSE key, counter, transports, backup flags, AAGUID', async () => {
    const aaguid = Buffer.from('adce000235bcc60a648b0b25f1f05503', 'hex');
    const device = new SoftwareAuthenticator({ backupEligible: true, backedUp: true, aaguid, transports: ['internal', 'hybrid', 'carrier-pigeon'] });
    const passkey = await registered(service, device);
    assert.equal(passkey.credentialId, [...device.credentials.keys()][0]);
    assert.equal(passkey.signCount, 0);
    assert.deepEqual(passkey.transports, ['internal', 'hybrid']);
    assert.equal(passkey.backupEligible, true);
    assert.equal(passkey.backedUp, true);
    assert.equal(passkey.aaguid, 'adce0002-35bc-c60a-648b-0b25f1f05503');
    assert.equal(passkeyAmr(passkey.backupEligible), 'swk');

    const bound = await registered(service, new SoftwareAuthenticator());
    assert.equal(bound.backupEligible, false);
    assert.equal(passkeyAmr(bound.backupEligible), 'hwk');
  });

  it('refuses a registration for another challenge, origin or RP id, or without user verification', async () => {
    for (const overrides of [
      { challenge: WebAuthnService.challenge() },
      { origin: 'https://evil.example' },
      { rpId: 'evil.example' },
      { userVerified: false },
      { type: 'webauthn.get' },
    ]) {
      const challenge = WebAuthnService.challenge();
      const options = await service.registrationOptions(USER, [], challenge);
      const outcome = await service.verifyRegistration(new SoftwareAuthenticator().register(options, overrides), challenge);
      assert.deepEqual(outcome, { ok: false, reason: 'invalid_attestation' }, JSON.stringify(overrides));
    }
  });

  it('verifies an assertion and moves the counter forward; discoverable options allow no credential', async () => {
    const device = new SoftwareAuthenticator();
    const passkey = await registered(service, device);
    const first = await assertion(service, device, passkey);
    assert.deepEqual(first, { ok: true, signCount: 1, backedUp: false, backupEligible: false });
    const discoverable = await service.authenticationOptions(null, WebAuthnService.challenge());
    assert.deepEqual(discoverable.allowCredentials, []);
    assert.equal(discoverable.userVerification, 'required');
    assert.equal(discoverable.rpId, 'localhost');
    const response = device.authenticate(discoverable);
    assert.equal(response.response.userHandle, WebAuthnService.userHandle(USER.id));
  });

  it('refuses wrong challenge, origin, RP id, type, missing user verification, another credential and a forged signature', async () => {
    const device = new SoftwareAuthenticator();
    const passkey = await registered(service, device);
    const other = await registered(service, device);
    for (const overrides of [
      { challenge: WebAuthnService.challenge() },
      { origin: 'https://evil.example' },
      { rpId: 'evil.example' },
      { userVerified: false },
      { type: 'webauthn.create' },
      { credentialId: other.credentialId },
    ]) {
      assert.deepEqual(await assertion(service, device, passkey, overrides), { ok: false, reason: 'invalid_assertion' }, JSON.stringify(overrides));
    }
    const challenge = WebAuthnService.challenge();
    const forged = device.authenticate(await service.authenticationOptions([passkey], challenge));
    const signature = Buffer.from(forged.response.signature, 'base64url');
    signature[signature.length - 1] ^= 1;
    forged.response.signature = signature.toString('base64url');
    assert.deepEqual(await service.verifyAuthentication(forged as never, challenge, passkey), { ok: false, reason: 'invalid_assertion' });
  });

  it('a counter that does not move forward is sign_count (a clone), once the signature is valid', async () => {
    const device = new SoftwareAuthenticator();
    const passkey = await registered(service, device);
    const clone = device.clone();
    const ok = await assertion(service, device, passkey);
    assert.ok(ok.ok);
    passkey.signCount = ok.signCount;
    // The clone still counts from where it was copied: 1 again, not above the stored 1.
    assert.deepEqual(await assertion(service, clone, passkey), { ok: false, reason: 'sign_count', signCount: 1 });
    device.setSignCount(passkey.credentialId, 0);
    assert.deepEqual(await assertion(service, device, passkey), { ok: false, reason: 'sign_count', signCount: 1 });
    device.setSignCount(passkey.credentialId, 41);
    assert.deepEqual(await assertion(service, device, passkey), { ok: true, signCount: 42, backedUp: false, backupEligible: false });
  });

  it('an authenticator without a counter (zero and zero) is allowed', async () => {
    const device = new SoftwareAuthenticator({ counter: 'zero', backupEligible: true, backedUp: true });
    const passkey = await registered(service, device);
    for (let i = 0; i < 2; i++) assert.deepEqual(await assertion(service, device, passkey), { ok: true, signCount: 0, backedUp: true, backupEligible: true });
  });

  it('reads the challenge a response answers, and null from garbage', async () => {
    const challenge = WebAuthnService.challenge();
    const device = new SoftwareAuthenticator();
    const passkey = await registered(service, device);
    assert.equal(WebAuthnService.challengeOf(device.authenticate(await service.authenticationOptions([passkey], challenge))), challenge);
    for (const clientDataJSON of ['', 'bm90IGpzb24', Buffer.from('{"challenge":7}').toString('base64url'), Buffer.from('null').toString('base64url')]) {
      assert.equal(WebAuthnService.challengeOf({ response: { clientDataJSON } }), null);
    }
  });

  it('garbage that passes the shape check is refused, never thrown', async () => {
    const device = new SoftwareAuthenticator();
    const passkey = await registered(service, device);
    const challenge = WebAuthnService.challenge();
    const good = device.authenticate(await service.authenticationOptions([passkey], challenge));
    for (const response of [
      { ...good.response, authenticatorData: 'AAAA' },
      { ...good.response, clientDataJSON: 'e30' },
      { ...good.response, signature: '' },
    ]) {
      const credential = { ...good, response };
      assert.equal(assertionCredentialProblem(credential), null);
      assert.deepEqual(await service.verifyAuthentication(credential as never, challenge, passkey), { ok: false, reason: 'invalid_assertion' });
    }
    const options = await service.registrationOptions(USER, [], challenge);
    const registration = device.register(options);
    const bad = { ...registration, response: { ...registration.response, attestationObject: 'oWNmbXRkbm9uZQ' } };
    assert.equal(registrationCredentialProblem(bad), null);
    assert.deepEqual(await service.verifyRegistration(bad as never, challenge), { ok: false, reason: 'invalid_attestation' });
  });
});

describe('WebAuthn credential shape', () => {
  const device = new SoftwareAuthenticator();
  const registration = device.register({ challenge: 'AAAA', rp: { id: 'localhost', name: 'x' }, user: { id: 'AAAA', name: 'x' } });
  const assertionJson = device.authenticate({ challenge: 'AAAA', rpId: 'localhost' });

  it('accepts what a browser sends', () => {
    assert.equal(registrationCredentialProblem(registration), null);
    assert.equal(assertionCredentialProblem(assertionJson), null);
    assert.equal(assertionCredentialProblem({ ...assertionJson, response: { ...assertionJson.response, userHandle: null } }), null);
  });

  it('refuses the wrong shape, naming what is wrong', () => {
    const cases: unknown[] = [
      null,
      'x',
      [],
      { ...assertionJson, id: 'a+b' },
      { ...assertionJson, rawId: 'other' },
      { ...assertionJson, type: 'password' },
      { ...assertionJson, extra: 1 },
      { ...assertionJson, response: 'x' },
      { ...assertionJson, response: { ...assertionJson.response, signature: 7 } },
      { ...assertionJson, response: { ...assertionJson.response, constructor: 'x' } },
      { ...assertionJson, response: { clientDataJSON: assertionJson.response.clientDataJSON } },
      { ...assertionJson, clientExtensionResults: [] },
      { ...assertionJson, authenticatorAttachment: 'cloud' },
      { ...assertionJson, id: 'A'.repeat(2000), rawId: 'A'.repeat(2000) },
    ];
    for (const c of cases) assert.notEqual(assertionCredentialProblem(c), null, JSON.stringify(c)?.slice(0, 80));
    assert.notEqual(registrationCredentialProblem({ ...registration, response: { ...registration.response, transports: 'usb' } }), null);
    assert.notEqual(registrationCredentialProblem({ ...registration, response: { ...registration.response, publicKeyAlgorithm: 1.5 } }), null);
    assert.notEqual(registrationCredentialProblem(assertionJson), null);
  });
});
