import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, startAppAtOwnUrl, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, Reply, Tokens, decodeJwt, login, refresh, register, uniqueEmail, works } from '../support/http';
import { auditCount, column, sessionRow } from '../support/db';
import { ShiftedClock } from '../support/clock';
import { dpopKey, dpopProof } from '../support/dpop';
import { SoftwareAuthenticator } from '../support/webauthn';
import { Clock } from '../../src/common/clock';
import { MfaHousekeeping } from '../../src/mfa/mfa-housekeeping';

/**
 * Passkeys over HTTP (API v3, "Second factor and passkeys"): registration, a passkey as the
 * second step of a password login, password-less sign-in, and step-up; and every way an
 * assertion must be refused (replay, expired or foreign challenge, wrong origin or RP id, no
 * user verification, someone else's passkey, a cloned authenticator's counter). The device is
 * the software authenticator of test/support/webauthn.ts: real keys, real authenticator data.
 */

const ORIGIN = 'http://localhost:3000';

interface User {
  id: string;
  email: string;
  tokens: Tokens;
}

describe(`passkeys [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const clock = new ShiftedClock();

  before(async () => {
    app = await startAppAtOwnUrl({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: ORIGIN }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
  });
  after(async () => app?.close());

  async function newUser(): Promise<User> {
    const { id, email } = await register(http, uniqueEmail('passkey'));
    return { id, email, tokens: await login(http, email) };
  }

  /** The first factor raises the caller's session at its next link: a refresh gets the aal2 token. */
  async function raised(user: User): Promise<void> {
    const r = await refresh(http, user.tokens.refresh_token);
    assert.equal(r.status, 200, r.text);
    assert.equal(decodeJwt(r.body.access_token).payload.acr, 'aal2');
    user.tokens = r.body;
  }

  async function registrationOptions(token: string): Promise<any> {
    const r = await http.post('/me/factors/passkey/options', undefined, { token });
    assert.equal(r.status, 200, r.text);
    return r.body.publicKey;
  }

  /** Registers a passkey of `device` for the user; answers the 201 body. */
  async function addPasskey(user: User, device: SoftwareAuthenticator, name = 'My key'): Promise<any> {
    const credential = device.register(await registrationOptions(user.tokens.access_token));
    const r = await http.post('/me/factors/passkey', { credential, name }, { token: user.tokens.access_token });
    assert.equal(r.status, 201, r.text);
    return r.body;
  }

  /** A user with a passkey on `device`, signed in again (the first factor revoked the other sessions; the caller's stays). */
  async function userWithPasskey(device = new SoftwareAuthenticator()): Promise<User & { device: SoftwareAuthenticator }> {
    const user = await newUser();
    await addPasskey(user, device);
    return { ...user, device };
  }

  async function passwordStep(user: { email: string }, extra: Record<string, unknown> = {}): Promise<any> {
    const r = await http.post('/auth/login', { email: user.email, password: PASSWORD, ...extra });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.mfaRequired, true);
    return r.body;
  }

  async function passkeyOptions(): Promise<any> {
    const r = await http.post('/auth/passkey/options');
    assert.equal(r.status, 200, r.text);
    return r.body.publicKey;
  }

  function assertRefused(r: Reply, status = 401, error = 'invalid_credentials'): void {
    assert.equal(r.status, status, r.text);
    assert.equal(r.body.error, error);
    assert.equal(r.body.access_token, undefined);
  }

  async function signCount(credentialId: string): Promise<number> {
    const [row] = await column<{ sign_count: unknown }>(app, 'SELECT sign_count FROM mfa_factors WHERE credential_id = ?', [credentialId]);
    return Number(row.sign_count);
  }

  describe('registration', () => {
    it('offers options for a resident, user-verified credential, excluding the ones the user has', async () => {
      const user = await newUser();
      const options = await registrationOptions(user.tokens.access_token);
      assert.equal(options.rp.id, 'localhost');
      assert.equal(options.rp.name, 'latchkey');
      assert.equal(options.authenticatorSelection.residentKey, 'required');
      assert.equal(options.authenticatorSelection.userVerification, 'required');
      assert.equal(options.attestation, 'none');
      assert.deepEqual(
        options.pubKeyCredParams.map((p: { alg: number }) => p.alg),
        [-7, -8, -257],
      );
      assert.deepEqual(options.excludeCredentials, []);
      assert.equal(Buffer.from(options.user.id, 'base64url').toString('hex'), user.id.replace(/-/g, ''));
      assert.equal(options.user.name, user.email);

      const device = new SoftwareAuthenticator();
      await addPasskey(user, device);
      await raised(user);
      const again = await registrationOptions(user.tokens.access_token);
      assert.deepEqual(
        again.excludeCredentials.map((c: { id: string }) => c.id),
        [...device.credentials.keys()],
      );
    });

    it('stores the credential: the first factor returns recovery codes and lists as a passkey', async () => {
      const user = await newUser();
      const elsewhere = await login(http, user.email);
      const device = new SoftwareAuthenticator({ backupEligible: true, backedUp: true, transports: ['internal', 'hybrid'] });
      const body = await addPasskey(user, device, 'Laptop');
      // The first factor: this session is raised, every other one signed out, the user told.
      assert.equal((await sessionRow(app, elsewhere.session_id)).revoked_reason, 'mfa_enabled');
      assert.equal((await sessionRow(app, user.tokens.session_id)).revoked_reason, null);
      assert.equal((await column(app, "SELECT id FROM mail_outbox WHERE user_id = ? AND kind = 'mfa_enabled'", [user.id])).length, 1);
      await raised(user);
      assert.deepEqual(decodeJwt(user.tokens.access_token).payload.amr, ['pwd', 'swk', 'user', 'mfa']);
      assert.equal(body.type, 'passkey');
      assert.equal(body.name, 'Laptop');
      assert.equal(body.backedUp, true);
      assert.equal(body.recoveryCodes.length, 10);
      const list = await http.get('/me/factors', { token: user.tokens.access_token });
      assert.equal(list.status, 200, list.text);
      const [factor] = list.body.items;
      assert.deepEqual(
        { type: factor.type, name: factor.name, backedUp: factor.backedUp, id: factor.id },
        { type: 'passkey', name: 'Laptop', backedUp: true, id: body.id },
      );
      const [row] = await column<Record<string, unknown>>(
        app,
        'SELECT credential_id, public_key, sign_count, transports, backup_eligible, backed_up, aaguid, user_id FROM mfa_factors WHERE id = ?',
        [body.id],
      );
      assert.equal(row.credential_id, [...device.credentials.keys()][0]);
      assert.ok(typeof row.public_key === 'string' && row.public_key.length > 40);
      assert.equal(Number(row.sign_count), 0);
      assert.equal(row.transports, 'internal,hybrid');
      assert.equal(Boolean(row.backup_eligible), true);
      assert.equal(Boolean(row.backed_up), true);
      assert.equal(row.aaguid, '00000000-0000-0000-0000-000000000000');
      assert.equal(row.user_id, user.id);
      assert.equal(await auditCount(app, 'mfa_factor_added', { userId: user.id }), 1);
    });

    it('refuses a credential registered already (409 factor_exists), a replayed registration and one for another session', async () => {
      const user = await newUser();
      const device = new SoftwareAuthenticator();
      const first = device.register(await registrationOptions(user.tokens.access_token));
      assert.equal((await http.post('/me/factors/passkey', { credential: first }, { token: user.tokens.access_token })).status, 201);
      await raised(user);
      // The same response again: its challenge was used.
      const replay = await http.post('/me/factors/passkey', { credential: first }, { token: user.tokens.access_token });
      assert.equal(replay.status, 400, replay.text);

      // The same credential on fresh options (a client that ignores excludeCredentials).
      const fresh = await http.post('/auth/login', { email: user.email, password: PASSWORD });
      const stepped = await http.post('/auth/mfa/verify', {
        mfaToken: fresh.body.mfaToken,
        method: 'passkey',
        credential: device.authenticate(fresh.body.passkey.publicKey),
      });
      assert.equal(stepped.status, 200, stepped.text);
      const duplicate = device.register(await registrationOptions(stepped.body.access_token), { reuse: first.id });
      assertRefused(await http.post('/me/factors/passkey', { credential: duplicate }, { token: stepped.body.access_token }), 409, 'factor_exists');

      // Options asked for by one user, answered into another's session.
      const other = await newUser();
      const stolen = new SoftwareAuthenticator().register(await registrationOptions(stepped.body.access_token));
      assert.equal((await http.post('/me/factors/passkey', { credential: stolen }, { token: other.tokens.access_token })).status, 400);
    });

    it('refuses a registration from another origin or RP id, or without user verification', async () => {
      const user = await newUser();
      for (const overrides of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { userVerified: false }]) {
        const credential = new SoftwareAuthenticator().register(await registrationOptions(user.tokens.access_token), overrides);
        const r = await http.post('/me/factors/passkey', { credential }, { token: user.tokens.access_token });
        assert.equal(r.status, 400, JSON.stringify(overrides));
        assert.equal(r.body.error, 'validation_failed');
      }
      assert.equal((await column(app, 'SELECT id FROM mfa_factors WHERE user_id = ?', [user.id])).length, 0);
    });

    it('refuses a malformed credential with 400, never a 5xx', async () => {
      const user = await newUser();
      const good = new SoftwareAuthenticator().register(await registrationOptions(user.tokens.access_token));
      for (const credential of [
        null,
        'x',
        [],
        {},
        { ...good, type: 'x' },
        { ...good, response: { ...good.response, attestationObject: 42 } },
        { ...good, response: { ...good.response, attestationObject: 'AAAA' } },
        { ...good, response: { ...good.response, clientDataJSON: 'bm90IGpzb24' } },
      ]) {
        const r = await http.post('/me/factors/passkey', { credential }, { token: user.tokens.access_token });
        assert.equal(r.status, 400, `${JSON.stringify(credential)?.slice(0, 60)}: ${r.text}`);
      }
    });
  });

  describe('as the second step of a password login', () => {
    it('offers the passkey with the login and signs in at aal2 with hwk, user, mfa', async () => {
      const user = await userWithPasskey();
      const step = await passwordStep(user);
      assert.ok(step.methods.includes('passkey'));
      assert.deepEqual(
        step.passkey.publicKey.allowCredentials.map((c: { id: string }) => c.id),
        [...user.device.credentials.keys()],
      );
      assert.equal(step.passkey.publicKey.userVerification, 'required');
      const r = await http.post('/auth/mfa/verify', {
        mfaToken: step.mfaToken,
        method: 'passkey',
        credential: user.device.authenticate(step.passkey.publicKey),
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.user.id, user.id);
      const claims = decodeJwt(r.body.access_token).payload;
      assert.equal(claims.acr, 'aal2');
      for (const m of ['pwd', 'hwk', 'mfa']) assert.ok(claims.amr.includes(m), `${m} in ${claims.amr}`);
      assert.equal(await signCount([...user.device.credentials.keys()][0]), 1);
    });

    it("refuses another user's passkey", async () => {
      const user = await userWithPasskey();
      const other = await userWithPasskey();
      const step = await passwordStep(user);
      const credential = other.device.authenticate(step.passkey.publicKey, { credentialId: [...other.device.credentials.keys()][0] });
      assertRefused(await http.post('/auth/mfa/verify', { mfaToken: step.mfaToken, method: 'passkey', credential }));
    });

    it('refuses an assertion for another challenge (one of a password-less sign-in)', async () => {
      const user = await userWithPasskey();
      const step = await passwordStep(user);
      const credential = user.device.authenticate(await passkeyOptions());
      assertRefused(await http.post('/auth/mfa/verify', { mfaToken: step.mfaToken, method: 'passkey', credential }));
    });
  });

  describe('password-less sign-in', () => {
    it('signs in with a discoverable passkey: aal2, amr hwk user mfa, the login answer', async () => {
      const user = await userWithPasskey();
      const options = await passkeyOptions();
      assert.deepEqual(options.allowCredentials, []);
      assert.equal(options.userVerification, 'required');
      assert.equal(options.rpId, 'localhost');
      assert.equal(options.timeout, 300_000);
      const r = await http.post('/auth/passkey/login', { credential: user.device.authenticate(options), deviceId: 'passkey-device-1', deviceName: 'Phone' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.user.id, user.id);
      assert.equal(r.body.device_id, 'passkey-device-1');
      assert.ok(r.body.refresh_token);
      const claims = decodeJwt(r.body.access_token).payload;
      assert.equal(claims.acr, 'aal2');
      assert.deepEqual(claims.amr, ['hwk', 'user', 'mfa']);
      assert.ok(await works(http, r.body));
      assert.equal(await auditCount(app, 'login_succeeded', { sessionId: r.body.session_id }), 1);
      const sessions = await http.get('/me/sessions', { token: r.body.access_token });
      assert.equal(sessions.body.items.find((s: { current: boolean }) => s.current).acr, 'aal2');
    });

    it('a synced (backup-eligible) passkey is a software key: swk', async () => {
      const user = await userWithPasskey(new SoftwareAuthenticator({ backupEligible: true, backedUp: true }));
      const r = await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()) });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(decodeJwt(r.body.access_token).payload.amr, ['swk', 'user', 'mfa']);
    });

    it('cookie mode and DPoP behave as at login', async () => {
      const user = await userWithPasskey();
      const cookieHttp = new Http(app.url);
      const r = await cookieHttp.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()), useCookie: true });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.refresh_token, undefined);
      assert.equal(cookieHttp.cookies.size, 1);
      const key = await dpopKey();
      const bound = await http.post(
        '/auth/passkey/login',
        { credential: user.device.authenticate(await passkeyOptions()) },
        { headers: { dpop: await dpopProof(key, 'POST', `${http.base}/auth/passkey/login`) } },
      );
      assert.equal(bound.status, 200, bound.text);
      assert.equal(bound.body.token_type, 'DPoP');
      assert.equal(decodeJwt(bound.body.access_token).payload.cnf.jkt, key.jkt);
    });

    it('refuses a disabled account after a valid assertion', async () => {
      const user = await userWithPasskey();
      await app.database.exec('UPDATE users SET disabled_at = ? WHERE id = ?', [Date.now(), user.id]);
      assertRefused(await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()) }), 403, 'account_disabled');
    });

    it('refuses a replayed assertion and a replayed challenge', async () => {
      const user = await userWithPasskey();
      const options = await passkeyOptions();
      const credential = user.device.authenticate(options);
      assert.equal((await http.post('/auth/passkey/login', { credential })).status, 200);
      assertRefused(await http.post('/auth/passkey/login', { credential }));
      // A fresh assertion (higher counter) over the used challenge.
      assertRefused(await http.post('/auth/passkey/login', { credential: user.device.authenticate(options) }));
    });

    it('refuses an expired challenge (5 minutes)', async () => {
      const user = await userWithPasskey();
      const options = await passkeyOptions();
      clock.offsetMs += 5 * 60_000 + 1000;
      try {
        assertRefused(await http.post('/auth/passkey/login', { credential: user.device.authenticate(options) }));
      } finally {
        clock.offsetMs -= 5 * 60_000 + 1000;
      }
      const count = await signCount([...user.device.credentials.keys()][0]);
      assert.equal(count, 0, 'an expired challenge changes nothing');
    });

    it('housekeeping deletes the challenges nobody answered, once expired', async () => {
      const live = await passkeyOptions();
      clock.offsetMs += 5 * 60_000 + 1000;
      const fresh = await passkeyOptions();
      try {
        await app.app.get(MfaHousekeeping).run(clock.now());
        const left = await column<{ challenge: string }>(app, 'SELECT challenge FROM webauthn_challenges WHERE challenge IN (?, ?)', [
          live.challenge,
          fresh.challenge,
        ]);
        assert.deepEqual(
          left.map((r) => r.challenge),
          [fresh.challenge],
        );
      } finally {
        clock.offsetMs -= 5 * 60_000 + 1000;
      }
    });

    it('refuses a challenge the server never offered', async () => {
      const user = await userWithPasskey();
      const options = await passkeyOptions();
      assertRefused(
        await http.post('/auth/passkey/login', { credential: user.device.authenticate({ ...options, challenge: Buffer.alloc(32, 7).toString('base64url') }) }),
      );
    });

    it('refuses a wrong origin, a wrong RP id, and an assertion without user verification', async () => {
      const user = await userWithPasskey();
      for (const overrides of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { userVerified: false }]) {
        assertRefused(await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions(), overrides) }));
      }
      assert.equal(await signCount([...user.device.credentials.keys()][0]), 0);
    });

    it("refuses an assertion that claims another user's handle, and an unknown credential", async () => {
      const user = await userWithPasskey();
      const other = await userWithPasskey();
      const handle = other.device.get([...other.device.credentials.keys()][0]).userHandle;
      assertRefused(await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions(), { userHandle: handle }) }));
      const stranger = new SoftwareAuthenticator();
      stranger.register({ challenge: 'AAAA', rp: { id: 'localhost', name: 'x' }, user: { id: handle, name: 'x' } });
      assertRefused(await http.post('/auth/passkey/login', { credential: stranger.authenticate(await passkeyOptions()) }));
    });

    it('refuses a cloned authenticator whose counter goes backwards, audits it, and keeps the counter', async () => {
      const user = await userWithPasskey();
      const credentialId = [...user.device.credentials.keys()][0];
      const clone = user.device.clone();
      for (let i = 0; i < 2; i++)
        assert.equal((await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()) })).status, 200);
      assert.equal(await signCount(credentialId), 2);
      const before = await auditCount(app, 'mfa_failed', { userId: user.id });
      assertRefused(await http.post('/auth/passkey/login', { credential: clone.authenticate(await passkeyOptions()) }));
      assert.equal(await signCount(credentialId), 2);
      assert.equal(await auditCount(app, 'mfa_failed', { userId: user.id }), before + 1);
      const [event] = await column<{ details: string }>(
        app,
        "SELECT details FROM audit_events WHERE type = 'mfa_failed' AND user_id = ? ORDER BY created_at DESC, id DESC",
        [user.id],
      );
      assert.equal(JSON.parse(event.details).reason, 'sign_count');
      // The genuine device goes on.
      assert.equal((await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()) })).status, 200);
    });

    it('allows an authenticator without a counter (zero and zero)', async () => {
      const user = await userWithPasskey(new SoftwareAuthenticator({ counter: 'zero' }));
      for (let i = 0; i < 2; i++)
        assert.equal((await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()) })).status, 200);
    });

    it('refuses a malformed credential with 400', async () => {
      for (const credential of [null, 7, 'x', [], {}, { id: 'a', rawId: 'a', type: 'public-key', response: {} }]) {
        const r = await http.post('/auth/passkey/login', { credential });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.error, 'validation_failed');
      }
      const user = await userWithPasskey();
      const good = user.device.authenticate(await passkeyOptions());
      const r = await http.post('/auth/passkey/login', { credential: { ...good, response: { ...good.response, clientDataJSON: 'bm90IGpzb24' } } });
      assertRefused(r);
    });
  });

  describe('step-up', () => {
    it('raises an aal1 session to aal2 with a passkey, same session, rotated chain', async () => {
      const user = await userWithPasskey();
      // An honest aal1 session of a user with a factor: a trusted device skips the second step.
      const step = await passwordStep(user, { deviceId: 'trusted-device-1' });
      const first = await http.post('/auth/mfa/verify', {
        mfaToken: step.mfaToken,
        method: 'passkey',
        credential: user.device.authenticate(step.passkey.publicKey),
        trustDevice: true,
      });
      assert.equal(first.status, 200, first.text);
      const verified = await http.post('/auth/login', {
        email: user.email,
        password: PASSWORD,
        deviceId: 'trusted-device-1',
        trustedDevice: first.body.trustedDevice,
      });
      assert.equal(verified.status, 200, verified.text);
      assert.equal(decodeJwt(verified.body.access_token).payload.acr, 'aal1');
      const options = await http.post('/me/step-up/options', undefined, { token: verified.body.access_token });
      assert.equal(options.status, 200, options.text);
      assert.ok(options.body.methods.includes('passkey'));
      const publicKey = options.body.passkey.publicKey;
      assert.deepEqual(
        publicKey.allowCredentials.map((c: { id: string }) => c.id),
        [...user.device.credentials.keys()],
      );
      const r = await http.post('/me/step-up', { method: 'passkey', credential: user.device.authenticate(publicKey) }, { token: verified.body.access_token });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.session_id, verified.body.session_id);
      assert.notEqual(r.body.refresh_token, verified.body.refresh_token);
      const claims = decodeJwt(r.body.access_token).payload;
      assert.equal(claims.acr, 'aal2');
      for (const m of ['pwd', 'hwk', 'user', 'mfa']) assert.ok(claims.amr.includes(m), `${m} in ${claims.amr}`);
      // The step-up challenge is single use and bound to this session.
      assertRefused(await http.post('/me/step-up', { method: 'passkey', credential: user.device.authenticate(publicKey) }, { token: r.body.access_token }));
      const other = await http.post('/auth/passkey/login', { credential: user.device.authenticate(await passkeyOptions()) });
      assert.equal(other.status, 200, other.text);
      const forOther = (await http.post('/me/step-up/options', undefined, { token: other.body.access_token })).body.passkey.publicKey;
      assertRefused(await http.post('/me/step-up', { method: 'passkey', credential: user.device.authenticate(forOther) }, { token: r.body.access_token }));
      // Nor does a password-less sign-in's challenge raise a session.
      assertRefused(
        await http.post('/me/step-up', { method: 'passkey', credential: user.device.authenticate(await passkeyOptions()) }, { token: r.body.access_token }),
      );
      const [event] = await column<{ details: string }>(
        app,
        "SELECT details FROM audit_events WHERE type = 'mfa_failed' AND user_id = ? ORDER BY created_at DESC, id DESC",
        [user.id],
      );
      assert.equal(JSON.parse(event.details).stage, 'step_up');
    });
  });
});

describe(`passkey sign-in with REQUIRE_EMAIL_VERIFICATION [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  before(async () => {
    app = await startApp({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: ORIGIN, REQUIRE_EMAIL_VERIFICATION: 'true' });
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('refuses an unverified account as a password login does, and mails a fresh link', async () => {
    const { id, email } = await register(http, uniqueEmail('unverified'));
    await app.database.exec('UPDATE users SET email_verified_at = ? WHERE id = ?', [Date.now(), id]);
    const tokens = await login(http, email);
    const device = new SoftwareAuthenticator();
    const options = await http.post('/me/factors/passkey/options', undefined, { token: tokens.access_token });
    assert.equal((await http.post('/me/factors/passkey', { credential: device.register(options.body.publicKey) }, { token: tokens.access_token })).status, 201);
    await app.database.exec('UPDATE users SET email_verified_at = NULL WHERE id = ?', [id]);
    const mailsBefore = (await column(app, "SELECT id FROM mail_outbox WHERE user_id = ? AND kind = 'email_verification'", [id])).length;
    const signIn = await http.post('/auth/passkey/options');
    const r = await http.post('/auth/passkey/login', { credential: device.authenticate(signIn.body.publicKey) });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.error, 'email_unverified');
    assert.equal((await column(app, "SELECT id FROM mail_outbox WHERE user_id = ? AND kind = 'email_verification'", [id])).length, mailsBefore + 1);
  });
});

describe(`passkey sign-in limits [${TEST_DB}]`, () => {
  async function withPasskey(http: Http): Promise<{ id: string; device: SoftwareAuthenticator }> {
    const { id, email } = await register(http, uniqueEmail('limits'));
    const tokens = await login(http, email);
    const device = new SoftwareAuthenticator();
    const options = await http.post('/me/factors/passkey/options', undefined, { token: tokens.access_token });
    assert.equal((await http.post('/me/factors/passkey', { credential: device.register(options.body.publicKey) }, { token: tokens.access_token })).status, 201);
    return { id, device };
  }
  const signIn = async (http: Http, device: SoftwareAuthenticator, overrides = {}) =>
    http.post('/auth/passkey/login', { credential: device.authenticate((await http.post('/auth/passkey/options')).body.publicKey, overrides) });

  it("a stranger's assertions naming someone's credential id count against neither their account (MFA_LOCKOUT) nor their passkey (MFA_MAX_FAILURES)", async () => {
    const app = await startApp({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: ORIGIN, MFA_LOCKOUT: '2/15m', MFA_MAX_FAILURES: '2' });
    try {
      const http = new Http(app.url);
      const victim = await withPasskey(http);
      const [credentialId, credential] = [...victim.device.credentials.entries()][0];
      const stranger = new SoftwareAuthenticator();
      stranger.register({ challenge: 'AAAA', rp: { id: 'localhost', name: 'x' }, user: { id: credential.userHandle, name: 'x' } });
      for (let i = 0; i < 4; i++) {
        const junk = stranger.authenticate((await http.post('/auth/passkey/options')).body.publicKey, { userHandle: credential.userHandle });
        const r = await http.post('/auth/passkey/login', { credential: { ...junk, id: credentialId, rawId: credentialId } });
        assert.equal(r.status, 401, r.text);
      }
      // Refused and audited, as before, but nothing counted against the victim or their passkey.
      assert.equal(await auditCount(app, 'mfa_failed', { userId: victim.id }), 4);
      const [factor] = await column<{ consecutive_failures: number; locked_at: number | null }>(
        app,
        'SELECT consecutive_failures, locked_at FROM mfa_factors WHERE user_id = ?',
        [victim.id],
      );
      assert.deepEqual([Number(factor.consecutive_failures), factor.locked_at], [0, null]);
      assert.equal(await auditCount(app, 'mfa_locked', { userId: victim.id }), 0);
      const own = await signIn(http, victim.device);
      assert.equal(own.status, 200, own.text);
    } finally {
      await app.close();
    }
  });

  it('AUTH_RATE_LIMIT covers the passkey sign-in routes', async () => {
    const app = await startApp({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: ORIGIN, AUTH_RATE_LIMIT: '3/1m' });
    try {
      const http = new Http(app.url);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await http.post('/auth/passkey/options')).status);
      statuses.push(
        (
          await http.post('/auth/passkey/login', {
            credential: new SoftwareAuthenticator().register({ challenge: 'AAAA', rp: { id: 'localhost', name: 'x' }, user: { id: 'AAAA', name: 'x' } }),
          })
        ).status,
      );
      assert.deepEqual(statuses, [200, 200, 200, 429]);
    } finally {
      await app.close();
    }
  });
});
