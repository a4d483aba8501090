import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import type { PendingSecondStep } from '@latchkey/client';
import { secondStepForm, refusal } from '../../../account/pages/client/second-step.js';
import { ApiFailure, isAdmin, passkeyOptions, passkeySignIn, signIn, signOut, verifySecondStep } from './api.js';
import { h, mount } from './dom.js';

export const NOT_ADMIN = 'This account is not an administrator. Sign in with an administrator account.';

function message(error: unknown): string {
  if (!(error instanceof ApiFailure)) return 'Something went wrong. Please try again.';
  switch (error.code) {
    case 'invalid_credentials':
      return 'The e-mail address or password is wrong.';
    case 'account_disabled':
      return 'This account is disabled.';
    case 'too_many_requests':
      return 'Too many sign-in attempts. Wait a few minutes and try again.';
    case 'validation_failed':
      return 'Enter your e-mail address and password.';
    default:
      return error.message;
  }
}

/** The sign-in screen. `notice` explains why it is shown (signed out, not an admin…). */
export function renderSignIn(root: HTMLElement, onSignedIn: () => void, notice?: string): void {
  const error = h('p', { class: 'form-error', id: 'signin-error', role: 'alert' }, notice ?? '');
  const email = h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true, 'aria-describedby': 'signin-error' });
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'aria-describedby': 'signin-error',
  });
  const submit = h('button', { type: 'submit', class: 'button button-primary button-block' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin-form', novalidate: true },
    h('h1', {}, 'latchkey admin'),
    h('p', { class: 'muted' }, 'Sign in with an administrator account.'),
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'E-mail address'), email),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    error,
    submit,
  );
  const passkey = h('button', { type: 'button', class: 'button button-block passkey-signin' }, 'Sign in with a passkey');
  form.append(h('p', { class: 'muted or' }, 'or'), passkey);

  /** Signed in: on to the dashboard, unless the account is not an admin one. */
  const signedIn = async (): Promise<void> => {
    if (!isAdmin()) {
      await signOut();
      return renderSignIn(root, onSignedIn, NOT_ADMIN);
    }
    onSignedIn();
  };

  passkey.addEventListener('click', () => {
    error.textContent = '';
    passkey.disabled = true;
    void (async () => {
      try {
        const options = await passkeyOptions();
        const credential = await startAuthentication({ optionsJSON: options.publicKey as unknown as PublicKeyCredentialRequestOptionsJSON });
        await passkeySignIn(credential);
        await signedIn();
      } catch (e) {
        error.textContent = refusal(e, 'passkey');
        passkey.focus();
      } finally {
        passkey.disabled = false;
      }
    })();
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!email.value.trim() || !password.value) {
      error.textContent = 'Enter your e-mail address and password.';
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    error.textContent = '';
    void (async () => {
      try {
        const pending = await signIn(email.value.trim(), password.value);
        if (pending) return renderSecondStep(root, pending, onSignedIn);
        if (!isAdmin()) {
          await signOut();
          error.textContent = NOT_ADMIN;
          password.value = '';
          password.focus();
          return;
        }
        onSignedIn();
      } catch (e) {
        error.textContent = message(e);
        password.select();
        password.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = 'Sign in';
      }
    })();
  });
  mount(root, h('main', { class: 'signin', id: 'main' }, form));
  email.focus();
}

/** The second step of a sign-in: a code from the authenticator app, a passkey, or a recovery code. */
function renderSecondStep(root: HTMLElement, pending: PendingSecondStep, onSignedIn: () => void): void {
  const form = secondStepForm({
    methods: pending.methods,
    passkey: pending.passkey,
    offerTrust: true,
    classes: { field: 'field', primary: 'button button-primary button-block', secondary: 'button button-block', error: 'form-error', check: 'check' },
    submit: async (answer) => {
      await verifySecondStep(pending, answer);
      if (!isAdmin()) {
        await signOut();
        return renderSignIn(root, onSignedIn, NOT_ADMIN);
      }
      onSignedIn();
    },
    restart: (notice) => renderSignIn(root, onSignedIn, notice),
  });
  const back = h('button', { type: 'button', class: 'button button-block' }, 'Start over');
  back.addEventListener('click', () => renderSignIn(root, onSignedIn));
  mount(
    root,
    h(
      'main',
      { class: 'signin', id: 'main' },
      h('div', { class: 'signin-form' }, h('h1', {}, 'Two-step sign-in'), h('p', { class: 'muted' }, 'Confirm it is you with your second factor.'), form, back),
    ),
  );
  form.querySelector<HTMLElement>('input, button')?.focus();
}
