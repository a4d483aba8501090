/**
 * The pages mailed links open. The token comes from the URL fragment (#token=…), which the
 * browser never sends to a server, and is dropped from the address bar at once so it does not
 * stay in the history; it only ever leaves in the body of one POST.
 */
import { passwordPolicyError, PASSWORD_MAX, PASSWORD_MIN } from '../../../common/password-policy';
import { el, type Child } from './dom';

interface Answer {
  status: number;
  body: { error?: string; message?: string; details?: Array<{ field: string; message: string }>; user?: { email: string }; restored?: boolean };
  retryAfter: number | null;
}

const app = document.getElementById('app')!;

function show(title: string, ...content: Child[]): void {
  document.title = title;
  app.replaceChildren(el('h1', {}, title), ...content.filter((c): c is Node | string => Boolean(c)));
  app.querySelector<HTMLElement>('input, button')?.focus();
}

const notice = (kind: 'good' | 'bad', text: string) => el('div', { class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, el('p', {}, text));

const fragment = new URLSearchParams(location.hash.slice(1));
if (location.hash) history.replaceState(null, '', location.pathname);

function readToken(): string | null {
  const token = fragment.get('token');
  return token && token.length <= 256 ? token : null;
}

async function post(path: string, body: unknown): Promise<Answer> {
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    const retry = response.headers.get('retry-after');
    return { status: response.status, body: await response.json().catch(() => ({})), retryAfter: retry ? Number(retry) : null };
  } catch {
    return { status: 0, body: {}, retryAfter: null };
  }
}

/** What to tell someone when an answer is neither success nor a state the page handles itself. */
function trouble(answer: Answer): string {
  if (answer.status === 429) return `Too many attempts. Try again in ${answer.retryAfter ?? 60} seconds.`;
  if (answer.status === 403 && answer.body.error === 'account_disabled') return 'This account is disabled. Ask your administrator.';
  if (answer.status === 0 || answer.status >= 500) return 'The service is not reachable right now. Try again in a moment.';
  return answer.body.message ?? 'Something went wrong. Try again.';
}

/** A form asking for a new reset link, for when the one used is no good any more. */
function askAgain(): HTMLFormElement {
  const email = el('input', { id: 'email', type: 'email', autocomplete: 'email', required: '', maxlength: '320' });
  const button = el('button', { type: 'submit' }, 'Send me a new link');
  const form = el('form', { novalidate: '' }, el('label', { for: 'email' }, 'Your e-mail address'), email, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!email.value.trim()) return email.focus();
    button.disabled = true;
    const answer = await post('/auth/password/forgot', { email: email.value.trim() });
    button.disabled = false;
    if (answer.status === 202)
      show('Check your inbox', notice('good', 'If an account uses that address, a new link is on its way. It works for a limited time, so use it soon.'));
    else form.prepend(notice('bad', trouble(answer)));
  });
  return form;
}

function invalidLink(what: string, offerNewLink: boolean): void {
  show(
    'This link does not work any more',
    notice('bad', `This ${what} link was already used, replaced by a newer one, or has expired.`),
    offerNewLink ? el('p', {}, 'Ask for a new one:') : el('p', {}, 'Sign in and ask for a new one from your account.'),
    offerNewLink && askAgain(),
  );
}

function missingLink(what: string): void {
  show(
    'Open the link from your e-mail',
    notice('bad', `This page needs the whole ${what} link from the e-mail we sent you. Open it from the e-mail, or copy all of it into the address bar.`),
  );
}

function resetPassword(token: string): void {
  const password = el('input', {
    id: 'password',
    type: 'password',
    autocomplete: 'new-password',
    required: '',
    minlength: String(PASSWORD_MIN),
    maxlength: String(PASSWORD_MAX),
    'aria-describedby': 'password-hint',
  });
  const repeat = el('input', { id: 'repeat', type: 'password', autocomplete: 'new-password', required: '' });
  const problem = el('p', { class: 'field-error', id: 'password-problem', role: 'alert' });
  const button = el('button', { type: 'submit' }, 'Set new password');
  const form = el(
    'form',
    { novalidate: '' },
    el('label', { for: 'password' }, 'New password'),
    password,
    el('p', { class: 'hint', id: 'password-hint' }, `${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`),
    el('label', { for: 'repeat' }, 'New password again'),
    repeat,
    problem,
    button,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent =
      passwordPolicyError(password.value)?.replace(/^password/, 'The password') ??
      (password.value !== repeat.value ? 'The two passwords are not the same.' : '');
    if (problem.textContent) return password.focus();
    button.disabled = true;
    const answer = await post('/auth/password/reset', { token, newPassword: password.value });
    button.disabled = false;
    if (answer.status === 200) {
      return show(
        'Your password is changed',
        notice('good', `Every device that was signed in to ${answer.body.user?.email ?? 'your account'} has been signed out.`),
        el('p', {}, 'Sign in again with your new password.'),
      );
    }
    if (answer.body.error === 'invalid_link') return invalidLink('password reset', true);
    problem.textContent =
      answer.body.error === 'validation_failed'
        ? (answer.body.details?.[0]?.message ?? trouble(answer)).replace(/^newPassword/, 'The password')
        : trouble(answer);
  });
  show('Choose a new password', el('p', {}, 'Setting a new password signs out every device signed in to your account.'), form);
}

async function verifyEmail(token: string): Promise<void> {
  show('Confirming your address…', el('p', {}, 'One moment.'));
  const answer = await post('/auth/email/verify', { token });
  if (answer.status === 200) return show('Your address is confirmed', notice('good', `Thank you: ${answer.body.user?.email ?? 'your address'} is confirmed.`));
  if (answer.body.error === 'invalid_link') return invalidLink('confirmation', false);
  show('Your address is not confirmed yet', notice('bad', trouble(answer)));
}

interface OneClick {
  path: string;
  label: string;
  danger?: boolean;
  /** The link's name in "This … link was already used". */
  what: string;
  offerNewLink: boolean;
  done: (answer: Answer) => void;
  /** A refusal this page explains itself; true when it did. */
  refused?: (answer: Answer) => boolean;
}

/**
 * A link that acts on one click, never on opening the page (a mail scanner that follows links
 * does nothing): the button posts the token, `done` shows a 200's outcome, and a dead link or any
 * other refusal is told the same way on every such page.
 */
function actOnClick(token: string, action: OneClick, title: string, ...intro: Child[]): void {
  const button = el('button', { type: 'button', ...(action.danger ? { class: 'danger' } : {}) }, action.label);
  const problem = el('p', { class: 'field-error', role: 'alert' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    const answer = await post(action.path, { token });
    button.disabled = false;
    if (answer.status === 200) return action.done(answer);
    if (answer.body.error === 'invalid_link') return invalidLink(action.what, action.offerNewLink);
    if (action.refused?.(answer)) return;
    problem.textContent = trouble(answer);
  });
  show(title, ...intro, problem, button);
}

function report(token: string): void {
  const device = fragment.get('device')?.slice(0, 120);
  actOnClick(
    token,
    {
      path: '/auth/sessions/report',
      label: 'Sign that device out',
      what: '"this wasn\'t me"',
      offerNewLink: true,
      done: () =>
        show(
          'That device is signed out',
          notice('good', 'It can no longer use your account, and neither can any device that signed in after it.'),
          el(
            'p',
            {},
            'Whoever signed in may know your password, so it no longer signs in: choose a new one with the link we have sent you. The devices you were signed in on before stay signed in.',
          ),
        ),
    },
    "Wasn't you?",
    device ? el('p', { class: 'device' }, 'The new sign-in: ', el('strong', {}, device)) : null,
    el(
      'p',
      {},
      'If you did not sign in on that device, sign it out now. Its access, and that of every device signed in since, ends at once; your password then stops signing in until you choose a new one with the link we will send you.',
    ),
  );
}

function confirmEmail(token: string): void {
  actOnClick(
    token,
    {
      path: '/auth/email/confirm',
      label: 'Use this address',
      what: 'confirmation',
      offerNewLink: false,
      done: (answer) =>
        show(
          'Your address is changed',
          notice('good', `Your account now uses ${answer.body.user?.email ?? 'this address'}.`),
          el('p', {}, 'Sign in with it from now on.'),
        ),
      refused: (answer) =>
        answer.body.error === 'email_taken' &&
        (show('This address has an account', notice('bad', 'Another account uses this address now, so yours keeps its address.')), true),
    },
    'Confirm your new address',
    el('p', {}, 'Your account moves to the address this e-mail came to. You will sign in with it from now on.'),
  );
}

function revertEmail(token: string): void {
  actOnClick(
    token,
    {
      path: '/auth/email/revert',
      label: 'Undo the change and sign out everywhere',
      danger: true,
      what: '"this wasn\'t me"',
      offerNewLink: false,
      done: (answer) =>
        answer.body.restored
          ? show(
              'Your address is back',
              notice('good', 'Your account uses this address again, and every device that was signed in has been signed out.'),
              el('p', {}, 'Whoever changed it knew your password, so it no longer signs in: choose a new one with the link we have sent you.'),
            )
          : show(
              'Every device is signed out',
              notice(
                'bad',
                'Your account is signed out everywhere and its password no longer signs in, but this address now belongs to another account, so it could not be moved back.',
              ),
              el('p', {}, 'Ask your administrator to help you back into your account.'),
            ),
    },
    "Wasn't you?",
    el(
      'p',
      {},
      'If you did not change the address of your account, undo it now: the account moves back to this address, every device signed in to it is signed out, and your password stops signing in until you choose a new one with the link we will send you.',
    ),
  );
}

const token = readToken();
const page = location.pathname.replace(/\/+$/, '').split('/').pop();
if (page === 'reset-password') token ? resetPassword(token) : missingLink('password reset');
else if (page === 'verify-email') token ? void verifyEmail(token) : missingLink('confirmation');
else if (page === 'report') token ? report(token) : missingLink('"this wasn\'t me"');
else if (page === 'confirm-email') token ? confirmEmail(token) : missingLink('confirmation');
else if (page === 'revert-email') token ? revertEmail(token) : missingLink('"this wasn\'t me"');
