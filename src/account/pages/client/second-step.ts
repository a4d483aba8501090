/**
 * The form that asks for a second factor: after a password at sign-in (the dashboard and the
 * account page), and when latchkey wants a step-up (RFC 9470). One code field that serves the
 * authenticator app, a recovery code or the password, and a passkey button, for the methods
 * latchkey offers. Plain DOM, so both pages (each with its own styles) build it the same way.
 */
import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { LatchkeyError, type LatchkeyClient, type PasskeyOptions, type StepUpAnswer } from '@latchkey/client';

export type AskedMethod = 'totp' | 'passkey' | 'recovery_code' | 'password';
type CodeMethod = Exclude<AskedMethod, 'passkey'>;

type Classes = { field?: string; primary?: string; secondary?: string; error?: string; check?: string };

export interface SecondStepOptions {
  methods: AskedMethod[];
  passkey?: PasskeyOptions;
  /** Sends the answer; throws latchkey's error when it is refused. */
  submit(answer: StepUpAnswer & { trustDevice?: boolean }): Promise<void>;
  /** latchkey says this second step is over (`invalid_mfa_token`): start again. */
  restart?(message: string): void;
  /** Offer "remember this browser" (sign-in only). */
  offerTrust?: boolean;
  /** Class names of the page's own styles. */
  classes?: Classes;
  /** A "Cancel" button (a step-up the user declines). */
  cancel?(): void;
}

const LABELS: Record<CodeMethod, { label: string; hint: string; switchTo: string }> = {
  totp: { label: 'Code from your authenticator app', hint: 'The 6 digits your app shows now.', switchTo: 'Use your authenticator app' },
  recovery_code: {
    label: 'Recovery code',
    hint: 'One of the codes you saved when you turned on two-step sign-in. Each works once.',
    switchTo: 'Use a recovery code',
  },
  password: { label: 'Your password', hint: '', switchTo: 'Use your password' },
};

function node<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

let serial = 0;

/** What to say when latchkey refuses an answer. */
export function refusal(error: unknown, method: AskedMethod): string {
  if (error instanceof LatchkeyError) {
    if (error.code === 'invalid_credentials')
      return method === 'password'
        ? 'That password is not right.'
        : method === 'passkey'
          ? 'That passkey was not accepted.'
          : 'That code is not right. Check it and try again.';
    if (error.code === 'too_many_requests') return 'Too many attempts. Wait a few minutes and try again.';
    if (error.status === 0 || error.status >= 500) return 'The server cannot be reached right now. Try again in a moment.';
    return error.message;
  }
  // WebAuthn: NotAllowedError is a cancel or a timeout; the browser says nothing more on purpose.
  if (error instanceof Error && (error.name === 'NotAllowedError' || error.name === 'AbortError'))
    return 'The passkey was not used. Try again, or choose another way.';
  if (error instanceof TypeError) return 'The server cannot be reached. Check your connection and try again.';
  return error instanceof Error && error.message ? error.message : 'Something went wrong. Try again.';
}

/** The form; focus its first field after mounting it (`form.querySelector('input, button')`). */
export function secondStepForm(options: SecondStepOptions): HTMLFormElement {
  const id = `second-step-${++serial}`;
  const classes = options.classes ?? {};
  const codeMethods = (['totp', 'recovery_code', 'password'] as const).filter((m) => options.methods.includes(m));
  let mode: CodeMethod | null = codeMethods[0] ?? null;

  const label = node('label', { for: `${id}-code` });
  const input = node('input', { id: `${id}-code`, name: 'code', required: '', 'aria-describedby': `${id}-hint ${id}-error`, maxlength: '128' });
  const hint = node('p', { class: 'hint', id: `${id}-hint` });
  const field = node('div', { class: classes.field ?? 'field' }, label, input, hint);
  const error = node('p', { class: classes.error ?? 'field-error', id: `${id}-error`, role: 'alert' });
  const trust = node('input', { id: `${id}-trust`, type: 'checkbox' });
  const trustField = node('div', { class: classes.check ?? 'check' }, trust, node('label', { for: `${id}-trust` }, 'Remember this browser'));
  const submit = node('button', { type: 'submit', class: classes.primary ?? '' }, 'Verify');
  const switches = node('div', { class: 'second-step-switches' });
  const passkeyButton = node('button', { type: 'button', class: classes.secondary ?? 'secondary' }, 'Use a passkey');
  const form = node('form', { novalidate: '', class: 'second-step', 'aria-label': 'Second step' });

  const setMode = (next: CodeMethod) => {
    mode = next;
    label.textContent = LABELS[next].label;
    hint.textContent = LABELS[next].hint;
    input.value = '';
    input.type = next === 'password' ? 'password' : 'text';
    input.setAttribute('autocomplete', next === 'totp' ? 'one-time-code' : next === 'password' ? 'current-password' : 'off');
    input.setAttribute('inputmode', next === 'totp' ? 'numeric' : 'text');
    error.textContent = '';
    switches.replaceChildren(
      ...codeMethods
        .filter((m) => m !== next)
        .map((m) => {
          const button = node('button', { type: 'button', class: classes.secondary ?? 'secondary' }, LABELS[m].switchTo);
          button.addEventListener('click', () => {
            setMode(m);
            input.focus();
          });
          return button;
        }),
    );
  };

  const busy = (on: boolean) => {
    for (const b of form.querySelectorAll('button')) b.disabled = on;
  };

  const send = async (answer: StepUpAnswer, method: AskedMethod) => {
    busy(true);
    error.textContent = '';
    try {
      await options.submit({ ...answer, ...(options.offerTrust && trust.checked ? { trustDevice: true } : {}) });
    } catch (e) {
      if (e instanceof LatchkeyError && e.code === 'invalid_mfa_token' && options.restart)
        return options.restart('This sign-in took too long or had too many wrong tries. Sign in again.');
      error.textContent = refusal(e, method);
      if (method !== 'passkey') {
        input.select();
        input.focus();
      } else passkeyButton.focus();
    } finally {
      busy(false);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!mode) return;
    const value = mode === 'password' ? input.value : input.value.replace(/\s+/g, '');
    if (!value) {
      error.textContent = `Enter your ${LABELS[mode].label.toLowerCase()}.`;
      return input.focus();
    }
    const answer: StepUpAnswer = mode === 'password' ? { method: 'password', password: value } : { method: mode, code: value };
    void send(answer, mode);
  });

  passkeyButton.addEventListener('click', () => {
    void (async () => {
      let credential: unknown;
      try {
        if (!options.passkey) throw new Error('latchkey sent no passkey options.');
        credential = await startAuthentication({ optionsJSON: options.passkey.publicKey as unknown as PublicKeyCredentialRequestOptionsJSON });
      } catch (e) {
        error.textContent = refusal(e, 'passkey');
        return passkeyButton.focus();
      }
      await send({ method: 'passkey', credential }, 'passkey');
    })();
  });

  if (mode) {
    setMode(mode);
    form.append(field);
  }
  if (options.offerTrust) form.append(trustField);
  form.append(error);
  if (mode) form.append(submit);
  if (options.methods.includes('passkey') && options.passkey) form.append(passkeyButton);
  form.append(switches);
  if (options.cancel) {
    const cancel = node('button', { type: 'button', class: classes.secondary ?? 'secondary' }, 'Cancel');
    cancel.addEventListener('click', () => options.cancel!());
    form.append(cancel);
  }
  return form;
}

/**
 * "Confirm it is you": a modal dialog (focus stays in it, Escape cancels, focus returns to where
 * it was) that asks for one of the methods latchkey offers this session and steps it up
 * (RFC 9470). True once the session is stepped up, false when the user cancels.
 */
export async function confirmItsYou(client: LatchkeyClient, classes?: Classes & { dialog?: string }): Promise<boolean> {
  const { methods, passkey } = await client.stepUpOptions();
  const returnFocus = document.activeElement as HTMLElement | null;
  const dialog = node('dialog', { class: classes?.dialog ?? 'step-up', 'aria-labelledby': 'step-up-title' });
  document.body.append(dialog);
  return new Promise<boolean>((resolve) => {
    const finish = (done: boolean) => {
      dialog.close();
      dialog.remove();
      returnFocus?.focus();
      resolve(done);
    };
    const form = secondStepForm({
      methods: methods,
      passkey,
      classes,
      submit: async (answer) => {
        await client.stepUp(answer);
        finish(true);
      },
      cancel: () => finish(false),
    });
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.append(node('h2', { id: 'step-up-title' }, 'Confirm it is you'), node('p', {}, 'This needs a fresh confirmation of your second factor.'), form);
    dialog.showModal();
    dialog.querySelector<HTMLElement>('input, button')?.focus();
  });
}
