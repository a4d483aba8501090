/**
 * /account/security: the signed-in user's second factors. Signs in through @latchkey/client in
 * cookie mode, as the dashboard does (the refresh token is an HttpOnly cookie no script sees);
 * lists the factors, enrols an authenticator app (QR code drawn here, from the otpauth URI, so
 * the secret never leaves the page) or a passkey, renames and removes them, and shows recovery
 * codes the one time latchkey gives them out. A change latchkey wants a fresh second factor for
 * (401 insufficient_user_authentication) asks for one, steps up, and is tried once more. It also
 * asks for a change of the account's e-mail address and downloads the user's data (GET /me/export).
 */
import QRCode from 'qrcode';
import {
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser';
import { createClient, LatchkeyError, type SessionEndReason } from '@latchkey/client';
import { confirmItsYou, refusal, secondStepForm, type AskedMethod } from './second-step';
import { el, type Child } from './dom';
import type { Factor } from './factor';

const app = document.getElementById('app')!;
// The dashboard's name: the refresh cookie is one per origin, so the pages latchkey serves share
// one session (an admin signed in on /admin is signed in here too), never two that swap cookies.
const latchkey = createClient({ mode: 'cookie', name: 'latchkey-dashboard', deviceName: 'Account page' });
const ENDED: Record<SessionEndReason, string> = {
  logout: 'You are signed out.',
  revoked: 'Your session has ended. Sign in again.',
  key_lost: 'Your session has ended. Sign in again.',
};
let signingOut = false;

/** A new view: its first field has the focus, or else its heading, so keyboard and screen-reader users start at the top. */
function show(title: string, ...content: Child[]): void {
  document.title = `${title} · latchkey`;
  const heading = el('h1', { tabindex: '-1' }, title);
  app.replaceChildren(heading, ...content.filter((c): c is Node | string => Boolean(c)));
  (app.querySelector<HTMLElement>('input') ?? heading).focus();
}

const notice = (kind: 'good' | 'bad', text: string) => el('div', { class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, el('p', {}, text));

function when(iso: string | null): string {
  if (!iso) return 'never';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// ------------------------------------------------------------------ signing in

function signIn(message?: string): void {
  const email = el('input', { id: 'email', type: 'email', autocomplete: 'username', required: '', maxlength: '320' });
  const password = el('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: '' });
  const problem = el('p', { class: 'field-error', id: 'signin-problem', role: 'alert' });
  const submit = el('button', { type: 'submit' }, 'Sign in');
  const passkey = el('button', { type: 'button', class: 'secondary' }, 'Sign in with a passkey');
  const form = el(
    'form',
    { novalidate: '' },
    el('label', { for: 'email' }, 'E-mail address'),
    email,
    el('label', { for: 'password' }, 'Password'),
    password,
    problem,
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!email.value.trim() || !password.value) {
      problem.textContent = 'Enter your e-mail address and password.';
      return (email.value.trim() ? password : email).focus();
    }
    submit.disabled = true;
    problem.textContent = '';
    void (async () => {
      try {
        const result = await latchkey.login(email.value.trim(), password.value);
        if ('mfaRequired' in result)
          return secondStep(result.methods, result.passkey, (answer) => result.verify(answer as Parameters<typeof result.verify>[0]).then(() => undefined));
        await security();
      } catch (e) {
        problem.textContent =
          e instanceof LatchkeyError && e.code === 'invalid_credentials' ? 'The e-mail address or password is wrong.' : refusal(e, 'password');
        password.select();
        password.focus();
      } finally {
        submit.disabled = false;
      }
    })();
  });
  passkey.addEventListener('click', () => {
    problem.textContent = '';
    passkey.disabled = true;
    void (async () => {
      try {
        const options = await latchkey.passkeyOptions();
        const credential = await startAuthentication({ optionsJSON: options.publicKey as unknown as PublicKeyCredentialRequestOptionsJSON });
        await latchkey.passkeyLogin(credential);
        await security();
      } catch (e) {
        problem.textContent = refusal(e, 'passkey');
        passkey.focus();
      } finally {
        passkey.disabled = false;
      }
    })();
  });
  show('Sign in to manage your security', message ? notice('good', message) : null, form, el('p', { class: 'or' }, 'or'), passkey);
}

function secondStep(
  methods: AskedMethod[],
  passkey: Parameters<typeof secondStepForm>[0]['passkey'],
  verify: (answer: Parameters<Parameters<typeof secondStepForm>[0]['submit']>[0]) => Promise<void>,
): void {
  const form = secondStepForm({
    methods,
    passkey,
    offerTrust: true,
    submit: async (answer) => {
      await verify(answer);
      await security();
    },
    restart: (message) => signIn(message),
  });
  show('Two-step sign-in', el('p', {}, 'Your account has a second factor. Confirm it is you.'), form);
}

// ------------------------------------------------------------------ talking to latchkey

/**
 * A call to latchkey as the signed-in user. A 401 insufficient_user_authentication (RFC 9470)
 * asks the user to confirm it is them, steps the session up, and sends the call once more.
 */
async function send(method: string, path: string, body?: unknown): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const response = await latchkey.fetch(path, {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return response;
    const error = await LatchkeyError.from(response);
    if (error.code === 'insufficient_user_authentication' && attempt === 0 && (await confirmItsYou(latchkey))) continue;
    throw error;
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/**
 * "Download my data": GET /me/export needs the bearer token, so a plain link cannot fetch it. The
 * document is read whole into a Blob (a cut-off stream fails the read, so a partial file is never
 * offered) and handed to the browser as a download under the name latchkey gave it.
 */
async function downloadMyData(): Promise<void> {
  const response = await send('GET', '/me/export');
  const blob = await response.blob();
  const filename = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'latchkey-export.json';
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: filename, hidden: '' });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked once the browser has taken the download over.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ------------------------------------------------------------------ the security page

const status = el('div', { class: 'status', role: 'status', 'aria-live': 'polite' });

function say(kind: 'good' | 'bad', text: string): void {
  status.replaceChildren(notice(kind, text));
}

function failed(e: unknown): void {
  if (e instanceof LatchkeyError && e.code === 'signed_out') return signIn('Your session has ended. Sign in again.');
  say(
    'bad',
    e instanceof LatchkeyError && e.code === 'insufficient_user_authentication'
      ? 'Nothing was changed: it needs you to confirm it is you.'
      : refusal(e, 'password'),
  );
}

/** The codes, shown this once: the page's heading takes the focus, so a screen reader starts there. */
function showRecoveryCodes(codes: string[], headline: string): void {
  const list = el('ol', { class: 'codes', 'aria-label': 'Recovery codes' }, ...codes.map((c) => el('li', {}, el('code', {}, c))));
  const done = el('button', { type: 'button' }, 'I have saved them');
  done.addEventListener('click', () => void security());
  show(
    'Your recovery codes',
    notice('good', headline),
    el('p', {}, 'Keep these somewhere safe, apart from your devices. Each one signs you in once if you lose your second factor. They are shown only now.'),
    list,
    done,
  );
}

/** After a factor was added: its answer holds recovery codes when it was the first one. */
async function added(answer: { recoveryCodes?: string[] } | undefined, what: string): Promise<void> {
  // The first factor raises this session to aal2 at its next refresh: take it now, so the next
  // change needs no step-up.
  if (answer?.recoveryCodes?.length) await latchkey.refresh(latchkey.accessToken ?? undefined);
  if (answer?.recoveryCodes?.length)
    showRecoveryCodes(answer.recoveryCodes, `${what} is on. Two-step sign-in is now on for your account, and your other devices were signed out.`);
  else void security(`${what} is on.`);
}

async function enrolTotp(): Promise<void> {
  const pending = await call<{ id: string; secret: string; otpauthUri: string }>('POST', '/me/factors/totp', { name: 'Authenticator app' });
  const svgText = await QRCode.toString(pending.otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  // Parsed as SVG (never as HTML), and only the <svg> element is kept.
  const svg = document.importNode(new DOMParser().parseFromString(svgText, 'image/svg+xml').documentElement, true);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code for your authenticator app');
  svg.setAttribute('class', 'qr');
  const code = el('input', {
    id: 'totp-code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    maxlength: '6',
    required: '',
    'aria-describedby': 'totp-problem',
  });
  const problem = el('p', { class: 'field-error', id: 'totp-problem', role: 'alert' });
  const submit = el('button', { type: 'submit' }, 'Turn on');
  const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener(
    'click',
    () =>
      void call('DELETE', `/me/factors/${pending.id}`)
        .catch(() => undefined)
        .then(() => security()),
  );
  const form = el('form', { novalidate: '' }, el('label', { for: 'totp-code' }, 'Code from the app'), code, problem, submit, cancel);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = code.value.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(value)) {
      problem.textContent = 'Enter the 6 digits the app shows.';
      return code.focus();
    }
    submit.disabled = true;
    void call<{ recoveryCodes?: string[] }>('POST', `/me/factors/${pending.id}/verify`, { code: value })
      .then((answer) => added(answer, 'Your authenticator app'))
      .catch((e) => {
        problem.textContent = refusal(e, 'totp');
        code.select();
        code.focus();
      })
      .finally(() => (submit.disabled = false));
  });
  show(
    'Add an authenticator app',
    el('p', {}, 'Scan this code with your authenticator app (1Password, Google Authenticator, Aegis…), then enter the 6 digits it shows.'),
    svg,
    el('p', {}, "Can't scan it? Enter this key in the app instead:"),
    el('p', {}, el('code', { class: 'secret', id: 'totp-secret' }, pending.secret.replace(/(.{4})/g, '$1 ').trim())),
    form,
  );
  code.focus();
}

async function enrolPasskey(): Promise<void> {
  const options = await call<{ publicKey: unknown }>('POST', '/me/factors/passkey/options');
  const credential = await startRegistration({ optionsJSON: options.publicKey as PublicKeyCredentialCreationOptionsJSON });
  const answer = await call<{ recoveryCodes?: string[] }>('POST', '/me/factors/passkey', { credential, name: passkeyName() });
  await added(answer, 'Your passkey');
}

/** A default name the user can change: the platform it was made on. */
function passkeyName(): string {
  const ua = navigator.userAgent;
  const platform = /iPhone|iPad/.test(ua)
    ? 'iPhone'
    : /Android/.test(ua)
      ? 'Android'
      : /Mac OS X/.test(ua)
        ? 'Mac'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'this device';
  return `Passkey on ${platform}`;
}

function factorRow(factor: Factor): HTMLElement {
  const name = factor.name || (factor.type === 'totp' ? 'Authenticator app' : 'Passkey');
  const kind = factor.type === 'totp' ? 'Authenticator app' : factor.backedUp ? 'Passkey (synced)' : 'Passkey';
  const rename = el('button', { type: 'button', class: 'secondary small', 'aria-label': `Rename ${name}` }, 'Rename');
  const remove = el('button', { type: 'button', class: 'danger small', 'aria-label': `Remove ${name}` }, 'Remove');
  const actions = el('div', { class: 'actions' }, rename, remove);
  const row = el(
    'li',
    { class: 'factor' },
    el(
      'div',
      {},
      el('strong', {}, name),
      el('span', { class: 'kind' }, ` · ${kind}`),
      factor.locked ? el('span', { class: 'locked' }, ' · locked after too many wrong codes') : null,
      el('p', { class: 'fine' }, `Added ${when(factor.createdAt)} · last used ${when(factor.lastUsedAt)}`),
    ),
    actions,
  );
  rename.addEventListener('click', () => {
    const input = el('input', { id: `rename-${factor.id}`, value: name, maxlength: '64', required: '' });
    const save = el('button', { type: 'submit', class: 'small' }, 'Save');
    const cancel = el('button', { type: 'button', class: 'secondary small' }, 'Cancel');
    const form = el('form', { novalidate: '', class: 'rename' }, el('label', { for: `rename-${factor.id}` }, `New name for ${name}`), input, save, cancel);
    cancel.addEventListener('click', () => {
      form.replaceWith(actions);
      rename.focus();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!input.value.trim()) return input.focus();
      save.disabled = true;
      void call('PATCH', `/me/factors/${factor.id}`, { name: input.value.trim() })
        .then(() => security(`Renamed to “${input.value.trim()}”.`))
        .catch((e) => (failed(e), (save.disabled = false)));
    });
    actions.replaceWith(form);
    input.select();
    input.focus();
  });
  remove.addEventListener('click', () => {
    if (!window.confirm(`Remove ${name}? You will no longer be able to sign in with it.`)) return;
    remove.disabled = true;
    void call('DELETE', `/me/factors/${factor.id}`)
      .then(() => security(`${name} is removed.`))
      .catch((e) => (failed(e), (remove.disabled = false)));
  });
  return row;
}

/**
 * "Change e-mail": the new address and the password (the step-up of a password change; a 401
 * insufficient_user_authentication is answered by `call` as everywhere). The answer is the same
 * whether or not the address has an account; only the mail that arrives there says which.
 */
function changeEmailForm(current: string): HTMLFormElement {
  const address = el('input', { id: 'new-email', type: 'email', autocomplete: 'email', required: '', maxlength: '254' });
  const password = el('input', { id: 'email-password', type: 'password', autocomplete: 'current-password', required: '' });
  const problem = el('p', { class: 'field-error', id: 'email-problem', role: 'alert' });
  const submit = el('button', { type: 'submit' }, 'Change e-mail');
  const form = el(
    'form',
    { novalidate: '', class: 'change-email' },
    el('label', { for: 'new-email' }, 'New e-mail address'),
    address,
    el('label', { for: 'email-password' }, 'Your password'),
    password,
    problem,
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const to = address.value.trim();
    problem.textContent = !to
      ? 'Enter the new address.'
      : to.toLowerCase() === current.toLowerCase()
        ? 'That is already your address.'
        : !password.value
          ? 'Enter your password.'
          : '';
    if (problem.textContent) return (to ? password : address).focus();
    submit.disabled = true;
    void call('POST', '/me/email', { newEmail: to, password: password.value })
      .then(() => {
        form.reset();
        say('good', `Check your inbox at ${to} and open the link we sent there. Until you do, your account keeps ${current}.`);
      })
      .catch((e) => {
        if (e instanceof LatchkeyError && e.code === 'signed_out') return failed(e);
        problem.textContent =
          e instanceof LatchkeyError && e.code === 'validation_failed' ? 'That is not an e-mail address we can use.' : refusal(e, 'password');
        password.select();
      })
      .finally(() => (submit.disabled = false));
  });
  return form;
}

/**
 * Deleting the account: cannot be undone, so it is confirmed by typing the address, and proved
 * with the password (an account with a second factor is also asked to confirm it, by call()).
 */
function deleteAccount(email: string): void {
  const password = el('input', {
    id: 'delete-password',
    type: 'password',
    autocomplete: 'current-password',
    required: '',
    'aria-describedby': 'delete-problem',
  });
  const typed = el('input', { id: 'delete-typed', type: 'text', autocomplete: 'off', spellcheck: 'false', required: '' });
  const problem = el('p', { class: 'field-error', id: 'delete-problem', role: 'alert' });
  const submit = el('button', { type: 'submit', class: 'danger' }, 'Delete my account');
  const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', () => void security());
  const form = el(
    'form',
    { novalidate: '' },
    el('label', { for: 'delete-typed' }, 'Type your e-mail address (', el('strong', {}, email), ') to confirm'),
    typed,
    el('label', { for: 'delete-password' }, 'Password'),
    password,
    problem,
    submit,
    cancel,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (typed.value.trim().toLowerCase() !== email.toLowerCase()) {
      problem.textContent = 'Type your e-mail address exactly as shown to confirm.';
      return typed.focus();
    }
    if (!password.value) {
      problem.textContent = 'Enter your password.';
      return password.focus();
    }
    submit.disabled = true;
    problem.textContent = '';
    void call('DELETE', '/me', { password: password.value })
      .then(async () => {
        // Every session of the account is gone with it, this one included: nothing to sign out of.
        signingOut = true;
        await latchkey.logout().catch(() => undefined);
        signingOut = false;
        show(
          'Your account is deleted',
          notice(
            'good',
            `The account ${email} is deleted and every device is signed out. An e-mail confirms it. You can create a new account with this address at any time.`,
          ),
        );
      })
      .catch((e) => {
        if (e instanceof LatchkeyError && e.code === 'signed_out') return signIn('Your session has ended. Sign in again.');
        problem.textContent =
          e instanceof LatchkeyError && e.code === 'invalid_credentials'
            ? 'The password is wrong. Nothing was deleted.'
            : `Nothing was deleted: ${refusal(e, 'password')}`;
        password.select();
        password.focus();
        submit.disabled = false;
      });
  });
  show(
    'Delete your account',
    el(
      'p',
      {},
      'This cannot be undone. Every device signed in to your account is signed out, your second factors, recovery codes and remembered devices are removed, and the security log keeps no e-mail address, IP address or browser of yours.',
    ),
    form,
  );
}

async function security(message?: string): Promise<void> {
  let me: { email: string };
  let factors: Factor[];
  let remaining: number | null = null;
  try {
    [me, { items: factors }] = await Promise.all([call<{ email: string }>('GET', '/me'), call<{ items: Factor[] }>('GET', '/me/factors')]);
    if (factors.length) remaining = (await call<{ remaining: number }>('GET', '/me/recovery-codes')).remaining;
  } catch (e) {
    if (e instanceof LatchkeyError && e.code === 'signed_out') return signIn();
    return show('Security', notice('bad', refusal(e, 'password')));
  }
  status.replaceChildren();
  if (message) say('good', message);

  const signOut = el('button', { type: 'button', class: 'secondary small' }, 'Sign out');
  signOut.addEventListener('click', () => {
    signingOut = true;
    void latchkey.logout().finally(() => ((signingOut = false), signIn('You are signed out.')));
  });
  const addApp = el('button', { type: 'button' }, 'Add an authenticator app');
  addApp.addEventListener('click', () => void enrolTotp().catch(failed));
  const addPasskey = el('button', { type: 'button' }, 'Add a passkey');
  addPasskey.addEventListener('click', () => {
    addPasskey.disabled = true;
    void enrolPasskey()
      .catch(failed)
      .finally(() => (addPasskey.disabled = false));
  });
  const active = factors.filter((f) => f.active !== false);
  const regenerate = el('button', { type: 'button', class: 'secondary' }, 'Make new recovery codes');
  regenerate.addEventListener('click', () => {
    if (!window.confirm('Make a new set of recovery codes? The codes you have now will stop working.')) return;
    void call<{ recoveryCodes: string[] }>('POST', '/me/recovery-codes')
      .then((answer) => showRecoveryCodes(answer.recoveryCodes, 'Here is your new set. The old codes no longer work.'))
      .catch(failed);
  });

  const download = el('button', { type: 'button', class: 'secondary' }, 'Download my data');
  download.addEventListener('click', () => {
    download.disabled = true;
    say('good', 'Preparing your data…');
    void downloadMyData()
      .then(() => say('good', 'Your data is downloaded: one JSON file of your account, its sessions, factors and security events.'))
      .catch((e) =>
        e instanceof LatchkeyError && e.code === 'too_many_requests'
          ? say('bad', 'You have downloaded your data several times within the hour. Try again later.')
          : failed(e),
      )
      .finally(() => (download.disabled = false));
  });
  const deleteButton = el('button', { type: 'button', class: 'danger' }, 'Delete my account');
  deleteButton.addEventListener('click', () => deleteAccount(me.email));

  show(
    'Security',
    el('p', { class: 'who' }, 'Signed in as ', el('strong', {}, me.email), ' ', signOut),
    status,
    el('h2', {}, 'Two-step sign-in'),
    active.length
      ? el('p', {}, 'On. Signing in asks for one of these after your password, or a passkey alone.')
      : el('p', {}, 'Off. Add an authenticator app or a passkey so that a stolen password is not enough to get in.'),
    active.length ? el('ul', { class: 'factors', 'aria-label': 'Your second factors' }, ...active.map(factorRow)) : null,
    el('div', { class: 'add' }, addApp, addPasskey),
    active.length ? el('h2', {}, 'Recovery codes') : null,
    active.length ? el('p', { id: 'codes-remaining' }, remaining === null ? '' : `${remaining} of 10 codes left.`) : null,
    active.length ? regenerate : null,
    el('h2', {}, 'E-mail address'),
    el('p', {}, 'We send a link to the new address; your account moves there once you open it, and your current address is told.'),
    changeEmailForm(me.email),
    el('h2', {}, 'Your data'),
    el(
      'p',
      {},
      'Everything latchkey holds about you: your account, your sessions past and present, your second factors (never their secrets) and your security events.',
    ),
    download,
    el('h2', {}, 'Delete account'),
    el('p', {}, 'Delete your account and everything that signs you in to it, for good.'),
    deleteButton,
  );
  // An overview, not a form: the heading keeps the focus rather than the e-mail field at its foot.
  app.querySelector<HTMLElement>('h1')?.focus();
}

latchkey.addEventListener('sessionended', (event) => {
  if (!signingOut) signIn(ENDED[(event as Event & { reason: SessionEndReason }).reason]);
});

void (async () => {
  show('Security', el('p', {}, 'Loading…'));
  if (await latchkey.restore().catch(() => false)) await security();
  else signIn();
})();
