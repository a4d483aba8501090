import { AsyncLocalStorage } from 'node:async_hooks';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Clock } from '../../src/common/clock';
import { MailSender } from '../../src/mail/mail-sender';
import { AccountMails } from '../../src/account/account-mails';
import { AccountService } from '../../src/account/account.service';
import { MailOutbox } from '../../src/mail/mail-outbox';
import { ShiftedClock } from '../support/clock';
import { appWithMailSuite, startApp, TEST_DB } from '../support/app';
import { auditCount, column, sessionRow } from '../support/db';
import { Http, PASSWORD, Tokens, eventually, login, refresh, register, uniqueEmail, works } from '../support/http';
import { tokenOf } from '../support/smtp';

const ADMIN_EMAIL = 'recovery-admin@example.com';
const ADMIN_PASSWORD = 'recovery admin password';
const APP_URL = 'https://accounts.example.test';
const NEW_PASSWORD = 'a brand new passphrase';
const RESET = /Reset your/;
const VERIFY = /Confirm your e-mail/;
const NEW_DEVICE = /A new device signed in/;
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

describe(`account recovery and e-mail [${TEST_DB}]`, () => {
  let admin: Tokens;
  const clock = new ShiftedClock();
  const suite = appWithMailSuite((mail) =>
    startApp({ ...mail, APP_URL, ADMIN_EMAIL, ADMIN_PASSWORD, LOGIN_LOCKOUT: '3/15m' }, undefined, [{ provide: Clock, useValue: clock }]),
  );
  before(async () => {
    admin = await login(suite.http, ADMIN_EMAIL, ADMIN_PASSWORD);
  });

  /** Mails still queued for `userId` (or for anyone): none once the sender has caught up. */
  const pending = async (userId?: string) =>
    Number(
      (
        await column<{ n: number }>(
          suite.app,
          `SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'pending'${userId ? ' AND user_id = ?' : ''}`,
          userId ? [userId] : [],
        )
      )[0].n,
    );

  async function resetToken(email: string, count = 1): Promise<string> {
    return tokenOf(await suite.smtp.next(email, RESET, 15_000, count), 'reset-password');
  }

  it('registration mails a verification link (plain text and HTML, a Message-ID, links at APP_URL) that confirms the address once', async () => {
    const user = await register(suite.http);
    const mail = await suite.smtp.next(user.email, VERIFY);
    assert.match(mail.from, /no-reply@localhost/);
    assert.match(mail.messageId, /^<[0-9a-f-]{36}@localhost>$/);
    assert.ok(mail.text.length > 0 && mail.html.includes('<a href='), 'both parts');
    assert.ok(
      mail.links.every((l) => l.startsWith(`${APP_URL}/account/verify-email#token=`)),
      'the link goes to the page, the token in the fragment',
    );
    assert.equal((await suite.http.get(`/admin/users/${user.id}`, { token: admin.access_token })).body.emailVerified, false);

    const verified = await suite.http.post('/auth/email/verify', { token: tokenOf(mail, 'verify-email') });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.body.user.emailVerified, true);
    assert.equal((await suite.http.get(`/admin/users/${user.id}`, { token: admin.access_token })).body.emailVerified, true);
    assert.equal(await auditCount(suite.app, 'email_verified', { userId: user.id }), 1);
    const again = await suite.http.post('/auth/email/verify', { token: tokenOf(mail, 'verify-email') });
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_link');
  });

  it('the whole reset from the mailed link: every session and its access token dies, the old password stops, the new one works, the lockout is cleared', async () => {
    const user = await register(suite.http);
    const phone = await login(suite.http, user.email, PASSWORD, { deviceId: 'reset-phone-0001' });
    const laptop = await login(suite.http, user.email, PASSWORD, { deviceId: 'reset-laptop-001' });
    // Locked out by LOGIN_LOCKOUT (3 failures), as someone who forgot their password would be.
    for (let i = 0; i < 3; i++) assert.equal((await suite.http.post('/auth/login', { email: user.email, password: 'not the password' })).status, 401);
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 429);

    assert.equal((await suite.http.post('/auth/password/forgot', { email: user.email })).status, 202);
    const mail = await suite.smtp.next(user.email, RESET);
    assert.ok(mail.links[0].startsWith(`${APP_URL}/account/reset-password#token=`));
    const reset = await suite.http.post('/auth/password/reset', { token: tokenOf(mail, 'reset-password'), newPassword: NEW_PASSWORD });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.body.user.id, user.id);
    assert.equal(reset.body.user.emailVerified, true, 'the link proved the address');
    assert.ok(!reset.text.includes(NEW_PASSWORD));

    for (const device of [phone, laptop]) {
      assert.equal(await works(suite.http, device), false, 'its access token stops at once');
      assert.equal((await refresh(suite.http, device.refresh_token)).status, 400, 'and its refresh token');
      assert.equal((await sessionRow(suite.app, device.session_id)).revoked_reason, 'password_reset');
    }
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 401, 'the old password is gone');
    const fresh = await login(suite.http, user.email, NEW_PASSWORD);
    assert.equal(await works(suite.http, fresh), true, 'the new one works, and the lockout was cleared');
    assert.equal(await auditCount(suite.app, 'password_reset', { userId: user.id }), 1);
    assert.equal(await auditCount(suite.app, 'password_reset_requested', { userId: user.id }), 1);
  });

  it('forgot: the same status, body and headers for known and unknown addresses; only the known one gets a mail', async () => {
    const user = await register(suite.http);
    const unknown = uniqueEmail('nobody');
    const known = await suite.http.post('/auth/password/forgot', { email: user.email });
    const stranger = await suite.http.post('/auth/password/forgot', { email: unknown });
    assert.equal(known.status, 202);
    assert.equal(stranger.status, known.status);
    assert.equal(stranger.text, known.text);
    assert.equal(known.text, '{}');
    const headers = (r: typeof known) => {
      const kept: string[] = [];
      r.headers.forEach((value, name) => void (['date', 'x-request-id'].includes(name) || kept.push(`${name}: ${value}`)));
      return kept;
    };
    assert.deepEqual(headers(stranger), headers(known));

    await suite.smtp.next(user.email, RESET);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(unknown).length, 0);
    const dropped = await column<{ state: string; last_error: string; data: unknown }>(
      suite.app,
      "SELECT state, last_error, data FROM mail_outbox WHERE kind = 'password_reset' AND user_id IS NULL AND state = 'dropped'",
    );
    assert.ok(dropped.length >= 1 && dropped.every((m) => m.data === null), 'the unknown address is not kept once the request is settled');

    // Timing: measured and printed, never asserted (tests never assert timings).
    const time = async (email: string) => {
      const started = performance.now();
      await suite.http.post('/auth/password/forgot', { email });
      return performance.now() - started;
    };
    const samples: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    for (let i = 0; i < 30; i++) {
      samples.known.push(await time(user.email));
      samples.unknown.push(await time(uniqueEmail('nobody')));
    }
    const summary = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `median ${s[s.length >> 1].toFixed(2)} ms, p90 ${s[Math.floor(s.length * 0.9)].toFixed(2)} ms`;
    };
    process.stdout.write(`# forgot timing over 30 requests each: known ${summary(samples.known)}; unknown ${summary(samples.unknown)}\n`);
  });

  it('forgot sets off the same work for a known and an unknown address: the same statements, the same row queued, no sender woken (issue 19)', async () => {
    const user = await register(suite.http);
    await suite.smtp.next(user.email, VERIFY);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    const unknown = uniqueEmail('nobody');
    // Every statement run on behalf of one forgot request, including whatever it sets off (an
    // after-commit hook and the promises it starts inherit the request's async context).
    const onBehalfOf = new AsyncLocalStorage<'known' | 'unknown'>();
    const statements: Record<'known' | 'unknown', string[]> = { known: [], unknown: [] };
    const runner = suite.app.database.dataSource.createQueryRunner();
    const prototype = Object.getPrototypeOf(runner) as { query: (sql: string, ...rest: unknown[]) => Promise<unknown> };
    await runner.release();
    const query = prototype.query;
    prototype.query = function (this: unknown, sql: string, ...rest: unknown[]) {
      const who = onBehalfOf.getStore();
      // The statement's text; TypeORM writes times as literals, which differ by nature.
      if (who)
        statements[who].push(
          sql
            .replace(/\s+/g, ' ')
            .replace(/\b\d{10,}\b/g, '<time>')
            .trim(),
        );
      return query.call(this, sql, ...rest);
    };
    const account = suite.app.app.get(AccountService);
    const forgot = account.forgotPassword;
    account.forgotPassword = (email, client) => onBehalfOf.run(email === user.email ? 'known' : 'unknown', () => forgot.call(account, email, client));
    let woken = 0;
    suite.app.app.get(MailOutbox).onEnqueued(() => void woken++);
    try {
      assert.equal((await suite.http.post('/auth/password/forgot', { email: user.email })).status, 202);
      assert.equal((await suite.http.post('/auth/password/forgot', { email: unknown })).status, 202);
      // Until both mails are settled, so that work set off by either has run and been counted.
      await suite.smtp.next(user.email, RESET);
      await eventually(async () => (await pending()) === 0, 10_000, 20);
    } finally {
      prototype.query = query;
      account.forgotPassword = forgot;
    }
    assert.ok(
      statements.known.some((sql) => /INSERT INTO .?mail_outbox/i.test(sql)),
      statements.known.join('\n'),
    );
    assert.deepEqual(statements.known, statements.unknown, 'the same statements, in the same order');
    assert.equal(woken, 0, 'neither request woke the sender: the mails were prepared on its own schedule');

    const rows = await column<Record<string, unknown>>(
      suite.app,
      "SELECT kind, user_id, data, attempts, created_at, next_attempt_at FROM mail_outbox WHERE kind = 'password_reset' AND created_at >= (SELECT MAX(created_at) FROM mail_outbox WHERE kind = 'email_verification' AND user_id = ?) ORDER BY created_at",
      [user.id],
    );
    assert.equal(rows.length, 2);
    const shape = (r: Record<string, unknown>) => ({
      kind: r.kind,
      userId: r.user_id,
      data: r.data,
      attempts: Number(r.attempts),
      delayed: Number(r.next_attempt_at) >= Number(r.created_at),
    });
    assert.deepEqual(shape(rows[0]), shape(rows[1]), 'the same row queued (its address is erased once settled)');
  });

  it('at most 3 reset mails an hour per account from "forgot"; more requests still answer 202 and send nothing', async () => {
    const user = await register(suite.http);
    for (let i = 0; i < 5; i++) assert.equal((await suite.http.post('/auth/password/forgot', { email: user.email })).status, 202);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(user.email, RESET).length, 3);
    assert.equal(await auditCount(suite.app, 'password_reset_requested', { userId: user.id }), 3);
    // Only the newest of them works (mails may arrive in another order than their links were made).
    const answers = [];
    for (const mail of suite.smtp.to(user.email, RESET))
      answers.push((await suite.http.post('/auth/password/reset', { token: tokenOf(mail, 'reset-password'), newPassword: NEW_PASSWORD })).body.error ?? 'ok');
    assert.deepEqual(answers.sort(), ['invalid_link', 'invalid_link', 'ok']);
  });

  it('a used, superseded, expired, forged or malformed link gets 400 invalid_link and changes nothing', async () => {
    const user = await register(suite.http);
    const device = await login(suite.http, user.email);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    const first = await resetToken(user.email);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    const second = await resetToken(user.email, 2);
    const hashBefore = (await column<{ password_hash: string }>(suite.app, 'SELECT password_hash FROM users WHERE id = ?', [user.id]))[0].password_hash;

    const refused = async (token: string, label: string) => {
      const r = await suite.http.post('/auth/password/reset', { token, newPassword: NEW_PASSWORD });
      assert.equal(r.status, 400, label);
      assert.equal(r.body.error, 'invalid_link', label);
      assert.ok(!r.text.includes(token), `${label}: the token is not echoed`);
    };
    await refused(first, 'superseded by a newer link');
    const [id, mac] = second.split('.');
    await refused(`${id}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`, 'a forged MAC');
    // The last of 43 characters carries two bits that decoders ignore: the same MAC, another spelling.
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    await refused(`${id}.${mac.slice(0, -1)}${B64URL[B64URL.indexOf(mac.at(-1)!) ^ 1]}`, 'the same MAC spelled differently');
    await refused(`${id}.${mac}x`, 'malformed');
    await refused(`${id.replace(/^./, (c) => (c === '0' ? '1' : '0'))}.${mac}`, 'another id with this MAC');
    const verificationToken = tokenOf(await suite.smtp.next(user.email, VERIFY), 'verify-email');
    await refused(verificationToken, 'a link made for another purpose');
    clock.offsetMs = 31 * 60_000; // past PASSWORD_RESET_TTL (30 minutes)
    try {
      await refused(second, 'expired');
    } finally {
      clock.offsetMs = 0;
    }
    assert.equal(
      (await column<{ password_hash: string }>(suite.app, 'SELECT password_hash FROM users WHERE id = ?', [user.id]))[0].password_hash,
      hashBefore,
      'the password is unchanged',
    );
    assert.equal(await works(suite.http, device), true, 'and the session lives');

    assert.equal((await suite.http.post('/auth/password/reset', { token: second, newPassword: NEW_PASSWORD })).status, 200, 'the newest link still works');
    await refused(second, 'used');
  });

  it('two resets racing on one link: exactly one wins, and its password is the one that works', async () => {
    const user = await register(suite.http);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    const token = await resetToken(user.email);
    const passwords = ['racing password one', 'racing password two', 'racing password three', 'racing password four'];
    const answers = await Promise.all(passwords.map((newPassword) => suite.http.post('/auth/password/reset', { token, newPassword })));
    const winners = answers.flatMap((a, i) => (a.status === 200 ? [passwords[i]] : []));
    assert.equal(winners.length, 1, JSON.stringify(answers.map((a) => a.status)));
    assert.ok(answers.every((a) => a.status === 200 || a.body.error === 'invalid_link'));
    await login(suite.http, user.email, winners[0]);
    for (const loser of passwords.filter((p) => p !== winners[0]))
      assert.equal((await suite.http.post('/auth/login', { email: user.email, password: loser })).status, 401);
    assert.equal(await auditCount(suite.app, 'password_reset', { userId: user.id }), 1);
  });

  it('a new device gets an alert with the device, IP and time; "this wasn\'t me" signs that session out, records it and mails a reset link', async () => {
    const user = await register(suite.http);
    // The home browser keeps its refresh cookie, so signing in again shows it holds its own session.
    const browser = new Http(suite.app.url);
    await browser.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: 'alert-home-0001', useCookie: true });
    const home = (await browser.post('/auth/login', { email: user.email, password: PASSWORD, deviceId: 'alert-home-0001', useCookie: true })).body;
    const stranger = await suite.http.post(
      '/auth/login',
      { email: user.email, password: PASSWORD, deviceId: 'alert-strange-01' },
      { headers: { 'user-agent': IPHONE } },
    );
    assert.equal(stranger.status, 200);

    const alert = await suite.smtp.next(user.email, NEW_DEVICE);
    assert.match(alert.text, /Safari on iPhone/);
    assert.match(alert.text, /127\.0\.0\.1/);
    assert.match(alert.text, new RegExp(new Date().getUTCFullYear().toString()));
    await eventually(async () => (await pending(user.id)) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(user.email, NEW_DEVICE).length, 1, 'the first sign-in and the same device again are no news');

    const report = await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') });
    assert.equal(report.status, 200, report.text);
    assert.equal(await works(suite.http, stranger.body), false, "that device's access token stops at once");
    assert.equal((await sessionRow(suite.app, stranger.body.session_id)).revoked_reason, 'reported_by_user');
    assert.equal(await works(suite.http, home), true, 'the device signed in before stays signed in');
    assert.equal(await auditCount(suite.app, 'session_reported', { sessionId: stranger.body.session_id }), 1);
    const reset = await suite.smtp.next(user.email, RESET);
    assert.equal((await suite.http.post('/auth/password/reset', { token: tokenOf(reset, 'reset-password'), newPassword: NEW_PASSWORD })).status, 200);

    const again = await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') });
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_link', 'the link works once');
  });

  it('"this wasn\'t me" after the stranger signed in again from that device signs out the newer session too, and that device\'s next sign-in alerts again', async () => {
    const user = await register(suite.http);
    await login(suite.http, user.email, PASSWORD, { deviceId: 'relogin-home-001' });
    const first = await login(suite.http, user.email, PASSWORD, { deviceId: 'relogin-thief-01' });
    const alert = await suite.smtp.next(user.email, NEW_DEVICE);
    const second = await login(suite.http, user.email, PASSWORD, { deviceId: 'relogin-thief-01' });
    assert.equal((await sessionRow(suite.app, first.session_id)).revoked_reason, 'device_relogin', 'the reported session is already replaced');
    // Without the device's cookie or key, replacing its live session is news too (a takeover).
    await suite.smtp.next(user.email, NEW_DEVICE, 15_000, 2);

    assert.equal((await suite.http.post('/auth/sessions/report', { token: tokenOf(alert, 'report') })).status, 200);
    assert.equal(await works(suite.http, second), false, 'the session that replaced it is signed out');
    assert.equal((await sessionRow(suite.app, second.session_id)).revoked_reason, 'reported_by_user');

    // The password is owed a reset now; once it is replaced, that device's next sign-in alerts again.
    await suite.http.post('/auth/password/reset', { token: await resetToken(user.email), newPassword: NEW_PASSWORD });
    await login(suite.http, user.email, NEW_PASSWORD, { deviceId: 'relogin-thief-01' });
    await suite.smtp.next(user.email, NEW_DEVICE, 15_000, 3);
  });

  it('an admin sends a password reset: 202, the user gets the mail, the event names the admin; 404 for nobody, 403 for non-admins', async () => {
    const user = await register(suite.http);
    const member = await login(suite.http, user.email);
    const sent = await suite.http.post(`/admin/users/${user.id}/password-reset`, undefined, { token: admin.access_token });
    assert.equal(sent.status, 202, sent.text);
    assert.ok(!sent.text.includes('token'), 'the admin never sees the link');
    await resetToken(user.email);
    const events = await column<{ actor_id: string }>(suite.app, "SELECT actor_id FROM audit_events WHERE type = 'password_reset_requested' AND user_id = ?", [
      user.id,
    ]);
    assert.deepEqual(
      events.map((e) => e.actor_id),
      [admin.user!.id],
    );
    assert.equal(
      (await suite.http.post('/admin/users/01900000-0000-7000-8000-000000000000/password-reset', undefined, { token: admin.access_token })).status,
      404,
    );
    assert.equal((await suite.http.post(`/admin/users/${user.id}/password-reset`, undefined, { token: member.access_token })).status, 403);
  });

  it('a disabled account gets no reset mail, and the reset links it got before die with the disable: a re-enable does not revive them', async () => {
    const user = await register(suite.http);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    const token = await resetToken(user.email);
    assert.equal((await suite.http.post(`/admin/users/${user.id}/disable`, undefined, { token: admin.access_token })).status, 200);
    const refused = await suite.http.post('/auth/password/reset', { token, newPassword: NEW_PASSWORD });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_link');
    await suite.http.post('/auth/password/forgot', { email: user.email });
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(user.email, RESET).length, 1);
    assert.equal((await suite.http.post(`/admin/users/${user.id}/enable`, undefined, { token: admin.access_token })).status, 200);
    const afterEnable = await suite.http.post('/auth/password/reset', { token, newPassword: NEW_PASSWORD });
    assert.equal(afterEnable.status, 400, 'the link made before the disable stays dead');
    assert.equal(afterEnable.body.error, 'invalid_link');
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: PASSWORD })).status, 200, 'the password is the old one');
  });

  it('a reset link made before the user changed the password no longer works', async () => {
    const user = await register(suite.http);
    const device = await login(suite.http, user.email);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    const token = await resetToken(user.email);
    const changed = await suite.http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'changed by the owner' }, { token: device.access_token });
    assert.equal(changed.status, 200, changed.text);
    const r = await suite.http.post('/auth/password/reset', { token, newPassword: NEW_PASSWORD });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_link');
    assert.equal(await works(suite.http, changed.body), true, 'the owner stays signed in');
    assert.equal((await suite.http.post('/auth/login', { email: user.email, password: 'changed by the owner' })).status, 200);
  });

  it('a signed-in user can ask for another verification mail; none once the address is verified', async () => {
    const user = await register(suite.http);
    const tokens = await login(suite.http, user.email);
    await suite.smtp.next(user.email, VERIFY);
    assert.equal((await suite.http.post('/me/email/verification', undefined, { token: tokens.access_token })).status, 202);
    const second = await suite.smtp.next(user.email, VERIFY, 15_000, 2);
    assert.equal((await suite.http.post('/auth/email/verify', { token: tokenOf(second, 'verify-email') })).status, 200);
    assert.equal((await suite.http.post('/me/email/verification', undefined, { token: tokens.access_token })).status, 202);
    await eventually(async () => (await pending(user.id)) === 0, 10_000, 20);
    assert.equal(suite.smtp.to(user.email, VERIFY).length, 2);
    assert.equal((await suite.http.post('/me/email/verification')).status, 401);
  });

  it('after an SMTP outage longer than a reset link lives, the newest of three requests still arrives, with a fresh link that works', async () => {
    const user = await register(suite.http);
    await suite.smtp.next(user.email, VERIFY);
    const resetLinks = async () =>
      Number(
        (await column<{ n: number }>(suite.app, "SELECT COUNT(*) AS n FROM account_links WHERE user_id = ? AND purpose = 'password_reset'", [user.id]))[0].n,
      );
    suite.smtp.refusing = true;
    try {
      for (let i = 0; i < 3; i++) assert.equal((await suite.http.post('/auth/password/forgot', { email: user.email })).status, 202);
      // Each request was admitted (three an hour), got its link, and was refused by the server.
      await eventually(async () => (await resetLinks()) === 3, 10_000, 20);
      // No attempt may straddle the jump of the clock: one prepared before it and delivered after
      // it would carry a link that the jump, not the outage, expired. Every attempt claimed so far
      // has been refused and let go once none is claimed.
      const notLetGo = async () =>
        Number(
          (
            await column<{ n: number }>(
              suite.app,
              "SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'pending' AND (attempts = 0 OR claimed_by IS NOT NULL)",
              [],
            )
          )[0].n,
        );
      await eventually(async () => (await notLetGo()) === 0, 10_000, 5);
      clock.offsetMs = 31 * 60_000; // the outage outlasts PASSWORD_RESET_TTL
      await eventually(async () => (await notLetGo()) === 0, 10_000, 5);
    } finally {
      suite.smtp.refusing = false;
    }
    try {
      const mail = await suite.smtp.next(user.email, RESET);
      const r = await suite.http.post('/auth/password/reset', { token: tokenOf(mail, 'reset-password'), newPassword: NEW_PASSWORD });
      assert.equal(r.status, 200, r.text);
      await eventually(async () => (await pending()) === 0, 10_000, 20);
      assert.equal(suite.smtp.to(user.email, RESET).length, 1, 'the two older requests were superseded and are not sent');
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('housekeeping deletes finished mails after a week and links a day after they expire, never a pending mail', async () => {
    // The last test of the file, so it can look at whole tables: every mail the file sent, the
    // anonymous "forgot" ones (no user_id until they are prepared) included.
    const user = await register(suite.http);
    await suite.http.post('/auth/password/forgot', { email: user.email });
    await resetToken(user.email);
    await eventually(async () => (await pending()) === 0, 10_000, 20);
    const count = async (sql: string) => Number((await column<{ n: number }>(suite.app, `SELECT COUNT(*) AS n FROM ${sql}`, []))[0].n);
    const mailsBefore = await count('mail_outbox');
    // "This wasn't me" links live as long as a refresh token (30 days), so a week on they stay.
    const reportLinks = await count("account_links WHERE purpose = 'session_report'");
    const shortLinks = await count("account_links WHERE purpose <> 'session_report'");
    assert.ok(
      mailsBefore >= 2 && shortLinks >= 2 && reportLinks >= 1,
      "at least this test's verification and reset, each with its link, and an earlier test's report link",
    );
    const pendingId = '01900000-0000-7000-8000-00000000beef';
    await suite.app.database.exec(
      "INSERT INTO mail_outbox (id, kind, user_id, data, ref, state, attempts, next_attempt_at, claimed_by, claimed_until, created_at, finished_at, message_id, last_error) VALUES (?, 'password_reset', ?, NULL, NULL, 'pending', 3, ?, NULL, NULL, ?, NULL, NULL, NULL)",
      // Due only well after the shifted clock, so the sender's own poll cannot take it meanwhile.
      [pendingId, user.id, Date.now() + 30 * 86_400_000, Date.now()],
    );
    clock.offsetMs = 8 * 86_400_000 + 60 * 60_000; // a week and a bit: every reset and verification link expired more than a day ago
    try {
      assert.equal(await suite.app.app.get(MailSender).housekeeping(), mailsBefore);
      assert.equal(await suite.app.app.get(AccountMails).housekeeping(), shortLinks);
    } finally {
      clock.offsetMs = 0;
    }
    assert.equal(await count("account_links WHERE purpose = 'session_report'"), reportLinks, 'a live link stays');
    assert.equal(await count('account_links'), reportLinks);
    assert.deepEqual(
      (await column<{ id: string }>(suite.app, 'SELECT id FROM mail_outbox', [])).map((r) => r.id),
      [pendingId],
      'only the pending mail is left',
    );
    await suite.app.database.exec('DELETE FROM mail_outbox WHERE id = ?', [pendingId]);
  });
});
