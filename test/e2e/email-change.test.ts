import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Clock } from '../../src/common/clock';
import { ShiftedClock } from '../support/clock';
import { appWithMailSuite, startApp, TEST_DB } from '../support/app';
import { auditCount, column, sessionRow } from '../support/db';
import { PASSWORD, Reply, Tokens, decodeJwt, eventually, login, refresh, register, uniqueEmail, works } from '../support/http';
import { enrolTotp, totpCode } from '../support/mfa';
import { ReceivedMail, tokenOf } from '../support/smtp';

const APP_URL = 'https://accounts.example.test';
const CONFIRM = /Confirm your new e-mail address/;
const TAKEN = /already has a/;
const CHANGED = /was changed/;
const RESET = /Reset your/;
const NEW_PASSWORD = 'a brand new passphrase';

describe(`e-mail change [${TEST_DB}]`, () => {
  const clock = new ShiftedClock();
  const suite = appWithMailSuite((mail) =>
    startApp({ ...mail, APP_URL, AAL2_MAX_AGE: '1h', LOGIN_LOCKOUT: '5/15m' }, undefined, [{ provide: Clock, useValue: clock }]),
  );

  const emailOf = async (userId: string) => (await column<{ email: string }>(suite.app, 'SELECT email FROM users WHERE id = ?', [userId]))[0].email;
  const ask = (t: Tokens, newEmail: string, password = PASSWORD) => suite.http.post('/me/email', { newEmail, password }, { token: t.access_token });
  const pending = async () => Number((await column<{ n: number }>(suite.app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'pending'"))[0].n);

  /** A user, signed in, whose change to a fresh address has been asked for; the confirmation link from the mail that arrived there. */
  async function asked(): Promise<{ user: { id: string; email: string }; device: Tokens; to: string; token: string; mail: ReceivedMail }> {
    const user = await register(suite.http);
    const device = await login(suite.http, user.email);
    const to = uniqueEmail('moved');
    const r = await ask(device, to);
    assert.equal(r.status, 202, r.text);
    const mail = await suite.smtp.next(to, CONFIRM);
    return { user, device, to, token: tokenOf(mail, 'confirm-email'), mail };
  }

  it('asks, confirms from the link mailed to the new address (nothing changes before), then tells the old address with a revert link', async () => {
    const { user, device, to, token, mail } = await asked();
    const other = await login(suite.http, user.email, PASSWORD, { deviceId: 'email-change-other-01' });
    assert.ok(
      mail.links.every((l) => l.startsWith(`${APP_URL}/account/confirm-email#token=`)),
      'the link goes to the page, the token in the fragment',
    );
    assert.equal(await emailOf(user.id), user.email, 'until confirmed, nothing changes');
    assert.equal((await suite.http.get('/me', { token: device.access_token })).body.email, user.email);
    assert.equal((await suite.http.post('/auth/login', { email: to, password: PASSWORD })).status, 401, 'the new address does not sign in yet');

    const confirmed = await suite.http.post('/auth/email/confirm', { token });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.equal(confirmed.body.user.email, to);
    assert.equal(confirmed.body.user.emailVerified, true, 'the link proved the new address');
    assert.equal((await suite.http.get('/me', { token: device.access_token })).body.email, to);
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 401, 'the old address no longer signs in');
    assert.equal(await works(suite.http, await login(suite.http, to)), true, 'the new one does');
    assert.equal(await works(suite.http, device), true, 'a confirmed change signs nobody out');
    assert.equal(await works(suite.http, other), true);

    const notice = await suite.smtp.next(user.email, CHANGED);
    assert.ok(notice.text.includes(to), 'the old address is told where the account went');
    assert.ok(notice.links.every((l) => l.startsWith(`${APP_URL}/account/revert-email#token=`)));
    const events = await column<{ details: string }>(suite.app, "SELECT details FROM audit_events WHERE type = 'email_changed' AND user_id = ?", [user.id]);
    assert.equal(events.length, 1);
    assert.ok(!events[0].details.includes(token) && !events[0].details.includes(token.split('.')[1]), 'no token in the audit log');

    const again = await suite.http.post('/auth/email/confirm', { token });
    assert.equal(again.status, 400, 'a link works once');
    assert.equal(again.body.error, 'invalid_link');
    assert.ok(!again.text.includes(token));
  });

  it('"this wasn\'t me" from the old address: the address comes back, every session is revoked (email_change_reverted, announced), the password owes a reset mailed there', async () => {
    const { user, device, to, token } = await asked();
    const phone = await login(suite.http, user.email, PASSWORD, { deviceId: 'email-change-phone-1' });
    assert.equal((await suite.http.post('/auth/email/confirm', { token })).status, 200);
    const afterwards = await login(suite.http, to, PASSWORD, { deviceId: 'email-change-intruder' });
    // A reset asked for at the new address must not outlive the revert.
    assert.equal((await suite.http.post('/auth/password/forgot', { email: to })).status, 202);
    const stolenReset = tokenOf(await suite.smtp.next(to, RESET), 'reset-password');
    const revertToken = tokenOf(await suite.smtp.next(user.email, CHANGED), 'revert-email');

    const reverted = await suite.http.post('/auth/email/revert', { token: revertToken });
    assert.equal(reverted.status, 200, reverted.text);
    assert.deepEqual(reverted.body, { restored: true });
    assert.equal(await emailOf(user.id), user.email);
    for (const t of [device, phone, afterwards]) {
      assert.equal(await works(suite.http, t), false, 'its access token stops at once');
      assert.equal((await refresh(suite.http, t.refresh_token)).status, 400);
      assert.equal((await sessionRow(suite.app, t.session_id)).revoked_reason, 'email_change_reverted');
    }
    const revocations = await column<{ n: number }>(
      suite.app,
      "SELECT COUNT(*) AS n FROM session_revocations WHERE user_id = ? AND reason = 'email_change_reverted'",
      [user.id],
    );
    assert.equal(Number(revocations[0].n), 3, 'every revocation went to the feed log');
    assert.equal(
      (await suite.http.post('/auth/password/reset', { token: stolenReset, newPassword: NEW_PASSWORD })).status,
      400,
      'the reset mailed to the other address is dead',
    );
    const signIn = await suite.http.post('/auth/login', { email: user.email, password: PASSWORD });
    assert.equal(signIn.status, 403, 'whoever changed the address knew the password: it no longer signs in');
    assert.equal((await suite.http.post('/auth/email/revert', { token: revertToken })).status, 400, 'the revert works once');

    const reset = await suite.http.post('/auth/password/reset', {
      token: tokenOf(await suite.smtp.next(user.email, RESET), 'reset-password'),
      newPassword: NEW_PASSWORD,
    });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.body.user.email, user.email);
    assert.equal(await works(suite.http, await login(suite.http, user.email, NEW_PASSWORD)), true);
    const details = (
      await column<{ details: string }>(suite.app, "SELECT details FROM audit_events WHERE type = 'email_changed' AND user_id = ? ORDER BY id", [user.id])
    ).map((e) => JSON.parse(e.details));
    assert.deepEqual(
      details.map((d) => [d.stage, d.restored, d.revokedSessions]),
      [
        ['confirmed', undefined, undefined],
        ['reverted', true, 3],
      ],
    );
  });

  it('an address that already has an account: the same answer (status, body, headers) as a free one; that address is told, nothing changes', async () => {
    const owner = await register(suite.http);
    const user = await register(suite.http);
    const device = await login(suite.http, user.email);
    const free = uniqueEmail('free');
    const toFree = await ask(device, free);
    const freeMail = await suite.smtp.next(free, CONFIRM);
    const toTaken = await ask(device, owner.email);
    assert.equal(toTaken.status, 202);
    assert.equal(toTaken.status, toFree.status);
    assert.equal(toTaken.text, toFree.text);
    assert.equal(toTaken.text, '{}');
    const headers = (r: Reply) => {
      const kept: string[] = [];
      r.headers.forEach((value, name) => void (['date', 'x-request-id'].includes(name) || kept.push(`${name}: ${value}`)));
      return kept;
    };
    assert.deepEqual(headers(toTaken), headers(toFree));
    // Both requests only queue a detached row, whatever the address.
    const queued = await column<{ kind: string; data: string }>(
      suite.app,
      "SELECT kind, data FROM mail_outbox WHERE user_id = ? AND kind = 'email_change' ORDER BY id",
      [user.id],
    );
    assert.equal(queued.length, 2);

    const told = await suite.smtp.next(owner.email, TAKEN);
    assert.equal(told.links.filter((l) => l.includes('#token=')).length, 0, 'no link: nothing to confirm');
    assert.ok(!told.text.includes(user.email), 'the requester is not named to the other account');
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(owner.email, CONFIRM).length, 0);
    assert.equal(await emailOf(user.id), user.email);
    assert.equal(await emailOf(owner.id), owner.email);
    // The newer request superseded the free address's link.
    const superseded = await suite.http.post('/auth/email/confirm', { token: tokenOf(freeMail, 'confirm-email') });
    assert.equal(superseded.body.error, 'invalid_link');
    assert.equal(await emailOf(user.id), user.email);

    // Timing: measured and printed, never asserted (tests never assert timings).
    const time = async (newEmail: string) => {
      const started = performance.now();
      assert.equal((await ask(device, newEmail)).status, 202);
      return performance.now() - started;
    };
    const samples: Record<'free' | 'taken', number[]> = { free: [], taken: [] };
    for (let i = 0; i < 20; i++) {
      samples.free.push(await time(uniqueEmail('free')));
      samples.taken.push(await time(owner.email));
    }
    const summary = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return `median ${sorted[sorted.length >> 1].toFixed(2)} ms, p90 ${sorted[Math.floor(sorted.length * 0.9)].toFixed(2)} ms`;
    };
    process.stdout.write(`# POST /me/email timing over 20 requests each: free ${summary(samples.free)}; taken ${summary(samples.taken)}\n`);
    await eventually(async () => (await pending()) === 0, 15_000, 20);
  });

  it('refuses a wrong password (401, counted), the own address (400), bad input (400) and no token (401), and mails nothing for them', async () => {
    const user = await register(suite.http);
    const device = await login(suite.http, user.email);
    const before = Number(
      (await column<{ n: number }>(suite.app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'email_change' AND user_id = ?", [user.id]))[0].n,
    );
    const wrong = await ask(device, uniqueEmail('nope'), 'not the password');
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal(wrong.body.error, 'invalid_credentials');
    assert.equal((await ask(device, user.email.toUpperCase())).status, 400, 'its own address');
    for (const body of [
      { newEmail: 'not an address', password: PASSWORD },
      { newEmail: uniqueEmail(), password: [PASSWORD] },
      { newEmail: uniqueEmail() },
      { newEmail: uniqueEmail(), password: PASSWORD, extra: 1 },
    ]) {
      const r = await suite.http.post('/me/email', body, { token: device.access_token });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error, 'validation_failed');
    }
    assert.equal((await suite.http.post('/me/email', { newEmail: uniqueEmail(), password: PASSWORD })).status, 401);
    // No password oracle for a stolen access token: wrong passwords count towards LOGIN_LOCKOUT (5/15m).
    for (let i = 0; i < 5; i++) assert.equal((await ask(device, uniqueEmail('nope'), 'not the password')).status, 401);
    const locked = await ask(device, uniqueEmail('nope'));
    assert.equal(locked.status, 429, locked.text);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    const afterwards = Number(
      (await column<{ n: number }>(suite.app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'email_change' AND user_id = ?", [user.id]))[0].n,
    );
    assert.equal(afterwards, before);
  });

  it('at most 3 e-mail change mails per account an hour (the answer stays 202); of those sent, the newest link is the one that works', async () => {
    const user = await register(suite.http);
    const device = await login(suite.http, user.email);
    const targets = [uniqueEmail('cap'), uniqueEmail('cap'), uniqueEmail('cap'), uniqueEmail('cap')];
    for (const to of targets) assert.equal((await ask(device, to)).status, 202);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    // Detached mails are prepared in no fixed order: whichever comes fourth is the one dropped.
    const mails = targets.flatMap((to) => suite.smtp.to(to, CONFIRM));
    assert.equal(mails.length, 3, 'the fourth is not sent');
    const dropped = await column<{ last_error: string }>(
      suite.app,
      "SELECT last_error FROM mail_outbox WHERE kind = 'email_change' AND user_id = ? AND state = 'dropped'",
      [user.id],
    );
    assert.equal(dropped.length, 1);
    assert.match(dropped[0].last_error, /more than 3 mails in an hour/);
    const answers = [];
    for (const mail of mails) answers.push((await suite.http.post('/auth/email/confirm', { token: tokenOf(mail, 'confirm-email') })).status);
    assert.deepEqual(answers.sort(), [200, 400, 400], 'a newer request supersedes the older ones');
  });

  it('an account with a second factor needs aal2, as for a password change; after a step-up it goes through', async () => {
    const user = await register(suite.http);
    const first = await login(suite.http, user.email);
    const totp = await enrolTotp(suite.http, first.access_token, clock.now());
    const offset = clock.offsetMs;
    try {
      clock.offsetMs += 2 * 3600_000; // past AAL2_MAX_AGE: the session refreshes down to aal1
      const lapsed = (await refresh(suite.http, first.refresh_token)).body;
      assert.equal(decodeJwt(lapsed.access_token).payload.acr, 'aal1');
      const gated = await ask(lapsed, uniqueEmail('gated'));
      assert.equal(gated.status, 401, gated.text);
      assert.equal(gated.body.error, 'insufficient_user_authentication');
      assert.equal(gated.body.acrValues, 'aal2');
      const password = await suite.http.request(
        'PUT',
        '/me/password',
        { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
        { token: lapsed.access_token },
      );
      assert.equal(password.body.error, gated.body.error, 'the same rule as a password change');
      const up = await suite.http.post('/me/step-up', { method: 'totp', code: totpCode(totp.secret, clock.now()) }, { token: lapsed.access_token });
      assert.equal(up.status, 200, up.text);
      const to = uniqueEmail('stepped');
      assert.equal((await ask(up.body, to)).status, 202);
      await suite.smtp.next(to, CONFIRM);
    } finally {
      clock.offsetMs = offset;
    }
  });

  it('expired, superseded, forged and wrong-purpose links get 400 invalid_link and change nothing; so does one whose password changed since', async () => {
    const { user, device, to, token } = await asked();
    const newer = uniqueEmail('newer');
    assert.equal((await ask(device, newer)).status, 202);
    const second = tokenOf(await suite.smtp.next(newer, CONFIRM), 'confirm-email');
    const refused = async (t: string, label: string, path = '/auth/email/confirm') => {
      const r = await suite.http.post(path, { token: t });
      assert.equal(r.status, 400, `${label}: ${r.text}`);
      assert.equal(r.body.error, 'invalid_link', label);
      assert.equal(await emailOf(user.id), user.email, `${label}: nothing changed`);
    };
    await refused(token, 'superseded by a newer request');
    const [id, mac] = second.split('.');
    await refused(`${id}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`, 'a forged MAC');
    await refused(second, 'a confirmation presented as a revert', '/auth/email/revert');
    const verification = tokenOf(await suite.smtp.next(user.email, /Confirm your e-mail address for/), 'verify-email');
    await refused(verification, 'a verification link');
    const offset = clock.offsetMs;
    clock.offsetMs += 31 * 60_000; // past PASSWORD_RESET_TTL (30 minutes)
    try {
      await refused(second, 'expired');
    } finally {
      clock.offsetMs = offset;
    }
    assert.equal(suite.smtp.to(user.email, CHANGED).length, 0, 'the old address was told nothing');
    assert.equal(suite.smtp.to(to, CONFIRM).length, 1);

    // A password changed after the request: the request, made with the old one, dies.
    const third = uniqueEmail('third');
    assert.equal((await ask(device, third)).status, 202);
    const thirdToken = tokenOf(await suite.smtp.next(third, CONFIRM), 'confirm-email');
    const changed = await suite.http.post('/me/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, { token: device.access_token });
    assert.equal(changed.status, 200, changed.text);
    await refused(thirdToken, 'asked before the password changed');
  });

  it('racing confirmations of one link: exactly one wins, one change, one notice', async () => {
    const { user, to, token } = await asked();
    const answers = await Promise.all(Array.from({ length: 6 }, () => suite.http.post('/auth/email/confirm', { token })));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 400, 400, 400, 400, 400], answers.map((a) => a.text).join('\n'));
    assert.ok(answers.filter((a) => a.status === 400).every((a) => a.body.error === 'invalid_link'));
    assert.equal(await emailOf(user.id), to);
    assert.equal(await auditCount(suite.app, 'email_changed', { userId: user.id }), 1);
    await suite.smtp.next(user.email, CHANGED);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(user.email, CHANGED).length, 1);
  });

  it('an address registered after the link was mailed: the confirmation is refused with 409 email_taken (never a 5xx), nothing changes', async () => {
    const { user, to, token } = await asked();
    await register(suite.http, to);
    const r = await suite.http.post('/auth/email/confirm', { token });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.body.error, 'email_taken');
    assert.equal(await emailOf(user.id), user.email);
    assert.equal(await auditCount(suite.app, 'email_changed', { userId: user.id }), 0);
  });

  it('a confirmation racing a registration of the same address: one of them wins, the other gets 409, never a 5xx', async () => {
    for (let round = 0; round < 4; round++) {
      const { user, to, token } = await asked();
      const [confirmed, registered] = await Promise.all([
        suite.http.post('/auth/email/confirm', { token }),
        suite.http.post('/auth/register', { email: to, password: PASSWORD }),
      ]);
      assert.ok(confirmed.status < 500 && registered.status < 500, `${confirmed.text} / ${registered.text}`);
      const holders = await column<{ id: string }>(suite.app, 'SELECT id FROM users WHERE email = ?', [to]);
      assert.equal(holders.length, 1, 'one account holds the address');
      if (confirmed.status === 200) {
        assert.equal(registered.status, 409);
        assert.equal(holders[0].id, user.id);
      } else {
        assert.deepEqual([confirmed.status, confirmed.body.error, registered.status], [409, 'email_taken', 201]);
        assert.equal(await emailOf(user.id), user.email);
      }
    }
  });

  it("reverting a later change cannot take away the revert of an earlier one: the owner's link still moves the account home", async () => {
    const { user, device, to, token } = await asked();
    assert.equal((await suite.http.post('/auth/email/confirm', { token })).status, 200);
    const ownersRevert = tokenOf(await suite.smtp.next(user.email, CHANGED), 'revert-email');
    // Whoever now holds the account moves it on, and reverts that second move themselves.
    const further = uniqueEmail('further');
    assert.equal((await ask(device, further)).status, 202);
    assert.equal((await suite.http.post('/auth/email/confirm', { token: tokenOf(await suite.smtp.next(further, CONFIRM), 'confirm-email') })).status, 200);
    const intrudersRevert = tokenOf(await suite.smtp.next(to, CHANGED), 'revert-email');
    assert.equal((await suite.http.post('/auth/email/revert', { token: intrudersRevert })).status, 200);
    assert.equal(await emailOf(user.id), to);

    const home = await suite.http.post('/auth/email/revert', { token: ownersRevert });
    assert.equal(home.status, 200, home.text);
    assert.equal(await emailOf(user.id), user.email);
  });

  it('a revert whose old address another account took meanwhile: everything is signed out, the address cannot come back, no reset goes to the other address', async () => {
    const { user, device, to, token } = await asked();
    assert.equal((await suite.http.post('/auth/email/confirm', { token })).status, 200);
    const revertToken = tokenOf(await suite.smtp.next(user.email, CHANGED), 'revert-email');
    await register(suite.http, user.email);
    const r = await suite.http.post('/auth/email/revert', { token: revertToken });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { restored: false });
    assert.equal(await emailOf(user.id), to);
    assert.equal(await works(suite.http, device), false);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(to, RESET).length, 0, 'no reset link to the address the owner disowned');
  });
});
