import { api, ApiFailure, currentUserId } from './api.js';
import { confirmAction } from './dialog.js';
import { empty, errorState, h, loading, mount, toast } from './dom.js';
import { eventRow } from './events.js';
import { plural, timeEl } from './format.js';
import { deviceLabel, parseUserAgent } from '../../../common/user-agent.js';
import type { AdminUser, AuditEvent, Factor, Page, Session } from './types.js';
import { userBadges } from './users.js';

const REVOKE_REASONS: Record<string, string> = {
  user_logout: 'Signed out',
  user_revoked: 'Removed by the user',
  admin_revoked: 'Revoked by an administrator',
  password_changed: 'Password changed',
  refresh_token_reuse: 'Stolen token detected',
  user_disabled: 'Account disabled',
  device_relogin: 'Replaced by a new sign-in',
  session_limit: 'Too many devices',
  password_reset: 'Password reset',
  reported_by_user: 'Reported by the user ("this wasn\'t me")',
  role_changed: 'Role changed',
  mfa_enabled: 'Two-step sign-in turned on',
  mfa_reset: 'Second factors reset by an administrator',
  account_deleted: 'Account deleted',
  email_change_reverted: 'E-mail change reverted by the old address',
};

/** A DPoP-bound device (RFC 9449): a copy of its tokens is useless without the key in that browser. */
const keyBoundBadge = () =>
  h('span', { class: 'badge badge-info', title: 'Its tokens only work together with a key that cannot leave this device (DPoP)' }, 'Key-bound');

/** A session signed in with a second factor or a passkey (acr aal2). */
const twoStepBadge = () => h('span', { class: 'badge badge-mfa', title: 'Signed in with a second factor or a passkey' }, 'Two-step');

export function renderUser(view: HTMLElement, userId: string, onForbidden: () => void): void {
  let showRevoked = false;
  const header = h('div', { class: 'user-head' });
  const actions = h('div', { class: 'actions' });
  const devices = h('div', { id: 'devices', 'aria-live': 'polite' });
  const factors = h('div', { id: 'factors', 'aria-live': 'polite' });
  const events = h('div', { id: 'user-events' });
  const toggle = h('input', { type: 'checkbox', id: 'show-revoked' });
  toggle.addEventListener('change', () => {
    showRevoked = toggle.checked;
    void loadDevices();
  });

  const fail = (what: string, error: unknown, target: HTMLElement, retry: () => void) => {
    if (error instanceof ApiFailure && error.status === 403) return onForbidden();
    mount(target, errorState(`${what} could not be loaded: ${(error as Error).message}`, retry));
  };

  const loadUser = async () => {
    try {
      const user = await api<AdminUser>('GET', `/admin/users/${userId}`);
      renderHeader(user);
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 404) {
        mount(
          view,
          h('div', { class: 'page-head' }, h('h1', {}, 'User not found')),
          empty('There is no user with this id.'),
          h('a', { href: '#/users' }, '← All users'),
        );
        return;
      }
      fail('The user', error, header, () => void loadUser());
    }
  };

  const renderHeader = (user: AdminUser) => {
    const self = user.id === currentUserId();
    mount(
      header,
      h('h1', {}, user.email, ' ', userBadges(user)),
      user.name ? h('p', { class: 'lead' }, user.name) : null,
      h(
        'dl',
        { class: 'meta' },
        h('div', {}, h('dt', {}, 'Created'), h('dd', {}, timeEl(user.createdAt))),
        h('div', {}, h('dt', {}, 'Last sign-in'), h('dd', {}, timeEl(user.lastLoginAt))),
        h('div', {}, h('dt', {}, 'Active devices'), h('dd', { id: 'active-count' }, String(user.activeSessions))),
      ),
    );
    const signOutAll = h('button', { type: 'button', class: 'button button-danger', disabled: user.activeSessions === 0 }, 'Sign out all devices');
    signOutAll.addEventListener(
      'click',
      () =>
        void run(
          signOutAll,
          {
            title: 'Sign out all devices?',
            body: `Every device of ${user.email} will be signed out at once. They can sign in again with their password.`,
            confirm: 'Sign out all devices',
          },
          async () => {
            const r = await api<{ revoked: number }>('DELETE', `/admin/users/${user.id}/sessions`);
            toast(`${plural(r.revoked, 'device')} signed out.`);
          },
        ),
    );
    const toggleDisabled = user.disabled
      ? h('button', { type: 'button', class: 'button' }, 'Enable account')
      : h(
          'button',
          { type: 'button', class: 'button button-danger', disabled: self, title: self ? 'You cannot disable your own account' : null },
          'Disable account',
        );
    toggleDisabled.addEventListener(
      'click',
      () =>
        void (user.disabled
          ? run(
              toggleDisabled,
              { title: 'Enable this account?', body: `${user.email} will be able to sign in again.`, confirm: 'Enable account' },
              async () => {
                await api('POST', `/admin/users/${user.id}/enable`);
                toast('Account enabled.');
              },
            )
          : run(
              toggleDisabled,
              {
                title: 'Disable this account?',
                body: `${user.email} will be signed out of every device and cannot sign in until the account is enabled again.`,
                confirm: 'Disable account',
                danger: true,
              },
              async () => {
                await api('POST', `/admin/users/${user.id}/disable`);
                toast('Account disabled and every device signed out.');
              },
            )),
    );
    const sendReset = h(
      'button',
      { type: 'button', class: 'button', disabled: user.disabled, title: user.disabled ? 'A disabled account gets no reset mail' : null },
      'Send password reset',
    );
    sendReset.addEventListener(
      'click',
      () =>
        void run(
          sendReset,
          {
            title: 'Send a password reset?',
            body: `${user.email} gets an e-mail with a link to choose a new password. You never see the link. Their password keeps working until they use it; using it signs out every device.`,
            confirm: 'Send reset e-mail',
            danger: false,
          },
          async () => {
            await api('POST', `/admin/users/${user.id}/password-reset`);
            toast(`Reset e-mail sent to ${user.email}.`);
          },
        ),
    );
    // Not on one's own account: an admin who lost a device resets through another admin or the CLI.
    const resetFactors = self
      ? null
      : h(
          'button',
          {
            type: 'button',
            class: 'button button-danger',
            disabled: user.mfaEnabled === false,
            title: user.mfaEnabled === false ? 'This user has no second factor' : null,
          },
          'Reset second factors',
        );
    resetFactors?.addEventListener(
      'click',
      () =>
        void run(
          resetFactors,
          {
            title: 'Reset second factors?',
            body: `Every second factor, recovery code and remembered browser of ${user.email} is removed, and every device is signed out. They can then sign in with their password alone and set up two-step sign-in again. Only do this once you are sure it is really them asking.`,
            confirm: 'Reset second factors',
            danger: true,
          },
          async () => {
            const r = await api<{ removed: number }>('POST', `/admin/users/${user.id}/mfa/reset`);
            toast(`${plural(r.removed, 'second factor')} removed and every device signed out.`);
          },
        ),
    );
    // One's own account is deleted from the account page (with the password), not from here.
    const deleteUser = self ? null : h('button', { type: 'button', class: 'button button-danger' }, 'Delete user');
    deleteUser?.addEventListener('click', () => void remove(deleteUser, user));
    mount(
      actions,
      sendReset,
      signOutAll,
      resetFactors,
      toggleDisabled,
      deleteUser,
      self ? h('p', { class: 'muted small' }, 'This is your own account.') : null,
    );
  };

  /** Deletion cannot be undone: confirmed by typing the address; afterwards there is no user page to come back to. */
  const remove = async (button: HTMLButtonElement, user: AdminUser) => {
    const question = {
      title: 'Delete this user?',
      body: `The account of ${user.email} is deleted for good: every device is signed out, their second factors and pending e-mails are removed, and their security events lose the e-mail address, IP addresses and browsers. They are told by e-mail, and may register again.`,
      confirm: 'Delete user',
      danger: true,
      typed: user.email,
    };
    if (!(await confirmAction(question))) return;
    button.disabled = true;
    try {
      await api('DELETE', `/admin/users/${user.id}`);
      toast(`${user.email} deleted.`);
      location.hash = '#/users';
    } catch (error) {
      button.disabled = false;
      if (error instanceof ApiFailure && error.status === 403 && error.code === 'forbidden' && /This needs an administrator/.test(error.message))
        return onForbidden();
      toast(`That did not work: ${(error as Error).message}`, 'error');
    }
  };

  /** Confirm, act, then reload what the action changed. */
  const run = async (button: HTMLButtonElement, question: { title: string; body: string; confirm: string; danger?: boolean }, action: () => Promise<void>) => {
    if (!(await confirmAction({ danger: true, ...question }))) return;
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 403 && error.code === 'forbidden' && /administrator/.test(error.message)) return onForbidden();
      toast(`That did not work: ${(error as Error).message}`, 'error');
    }
    await Promise.all([loadUser(), loadDevices(), loadFactors(), loadEvents()]);
  };

  const loadFactors = async () => {
    mount(factors, loading('Loading second factors…'));
    try {
      const list = await api<{ items: Factor[] }>('GET', `/admin/users/${userId}/factors`);
      if (list.items.length === 0) return mount(factors, empty('No second factor: this user signs in with a password alone.'));
      mount(
        factors,
        h(
          'ul',
          { class: 'factors' },
          list.items.map((f) => {
            const name = f.name ?? (f.type === 'totp' ? 'Authenticator app' : 'Passkey');
            // Not one's own: like the reset, that goes through another admin or the CLI.
            const remove =
              userId === currentUserId() ? null : h('button', { type: 'button', class: 'button button-danger', 'aria-label': `Remove ${name}` }, 'Remove');
            remove?.addEventListener(
              'click',
              () =>
                void run(
                  remove,
                  {
                    title: `Remove ${name}?`,
                    body: 'The user can no longer sign in with this factor. Their other factors and their devices stay as they are.',
                    confirm: 'Remove factor',
                    danger: true,
                  },
                  async () => {
                    await api('DELETE', `/admin/users/${userId}/factors/${f.id}`);
                    toast(`${name} removed.`);
                  },
                ),
            );
            return h(
              'li',
              { class: 'factor', 'data-factor-id': f.id },
              h(
                'div',
                { class: 'device-head' },
                h(
                  'h3',
                  { class: 'device-name' },
                  name,
                  f.locked
                    ? [
                        ' ',
                        h(
                          'span',
                          { class: 'badge badge-disabled', title: 'Too many wrong codes in a row: locked until an administrator resets the second factors' },
                          'Locked',
                        ),
                      ]
                    : null,
                  f.active === false
                    ? [' ', h('span', { class: 'badge badge-unverified', title: 'Added but never confirmed with a code' }, 'Not confirmed')]
                    : null,
                ),
                remove,
              ),
              h('p', { class: 'device-agent' }, f.type === 'totp' ? 'Authenticator app (TOTP)' : f.backedUp ? 'Passkey, synced' : 'Passkey'),
              h(
                'dl',
                { class: 'meta' },
                h('div', {}, h('dt', {}, 'Added'), h('dd', {}, timeEl(f.createdAt))),
                h('div', {}, h('dt', {}, 'Last used'), h('dd', {}, timeEl(f.lastUsedAt, 'relative'))),
              ),
            );
          }),
        ),
      );
    } catch (error) {
      fail('The second factors', error, factors, () => void loadFactors());
    }
  };

  const loadDevices = async () => {
    devices.setAttribute('aria-busy', 'true');
    mount(devices, loading('Loading devices…'));
    try {
      const list = await api<{ items: Session[] }>('GET', `/admin/users/${userId}/sessions${showRevoked ? '?include=revoked' : ''}`);
      devices.removeAttribute('aria-busy');
      if (list.items.length === 0) {
        mount(devices, empty(showRevoked ? 'This user has no devices on record.' : 'No active devices: this user is signed out everywhere.'));
        return;
      }
      mount(
        devices,
        h(
          'ul',
          { class: 'devices' },
          list.items.map((s) => deviceCard(s)),
        ),
      );
    } catch (error) {
      devices.removeAttribute('aria-busy');
      fail('The devices', error, devices, () => void loadDevices());
    }
  };

  const deviceCard = (s: Session): HTMLElement => {
    const agent = parseUserAgent(s.userAgent);
    const label = deviceLabel(s.deviceName, s.userAgent);
    const active = s.revokedAt === null && new Date(s.expiresAt).getTime() > Date.now() && new Date(s.idleExpiresAt).getTime() > Date.now();
    const expires = new Date(s.idleExpiresAt) < new Date(s.expiresAt) ? s.idleExpiresAt : s.expiresAt;
    let revoke: HTMLButtonElement | null = null;
    if (active) {
      revoke = h('button', { type: 'button', class: 'button button-danger', 'aria-label': `Revoke ${label}` }, 'Revoke');
      const button = revoke;
      revoke.addEventListener(
        'click',
        () =>
          void run(
            button,
            {
              title: `Revoke ${label}?`,
              body: 'This device is signed out at once: its access token stops working and its refresh token is refused.',
              confirm: 'Revoke device',
              danger: true,
            },
            async () => {
              await api('DELETE', `/admin/sessions/${s.id}`);
              toast(`${label} signed out.`);
            },
          ),
      );
    }
    return h(
      'li',
      { class: active ? 'device' : 'device device-revoked', 'data-session-id': s.id },
      h(
        'div',
        { class: 'device-head' },
        h('span', { class: `device-icon device-${agent.kind}`, 'aria-hidden': 'true' }),
        h(
          'div',
          {},
          h('h3', { class: 'device-name' }, label, s.dpopBound ? [' ', keyBoundBadge()] : null, s.acr === 'aal2' ? [' ', twoStepBadge()] : null),
          h('p', { class: 'device-agent' }, agent.kind === 'app' ? `${agent.browser} · not a browser` : `${agent.browser} · ${agent.os}`),
        ),
        revoke,
      ),
      h(
        'dl',
        { class: 'meta' },
        h('div', {}, h('dt', {}, 'IP address'), h('dd', {}, s.ip ?? 'unknown')),
        h('div', {}, h('dt', {}, 'Signed in'), h('dd', {}, timeEl(s.createdAt))),
        h('div', {}, h('dt', {}, 'Last active'), h('dd', {}, timeEl(s.lastUsedAt, 'relative'))),
        active
          ? h('div', {}, h('dt', {}, 'Expires'), h('dd', {}, timeEl(expires)))
          : h(
              'div',
              {},
              h('dt', {}, 'Signed out'),
              h('dd', {}, s.revokedAt ? timeEl(s.revokedAt) : 'expired', s.revokedReason ? ` — ${REVOKE_REASONS[s.revokedReason] ?? s.revokedReason}` : ''),
            ),
      ),
    );
  };

  const loadEvents = async () => {
    mount(events, loading('Loading events…'));
    try {
      const page = await api<Page<AuditEvent>>('GET', `/admin/events?userId=${userId}&limit=15`);
      if (page.items.length === 0) return mount(events, empty('No security events for this user.'));
      mount(
        events,
        h(
          'ul',
          { class: 'events' },
          page.items.map((e) => eventRow(e, { showUser: false })),
        ),
        page.nextCursor ? h('a', { href: `#/events?userId=${userId}` }, 'All events of this user →') : null,
      );
    } catch (error) {
      fail('The events', error, events, () => void loadEvents());
    }
  };

  mount(
    view,
    h('a', { href: '#/users', class: 'back' }, '← All users'),
    header,
    actions,
    h(
      'section',
      { 'aria-labelledby': 'devices-title', class: 'section' },
      h('div', { class: 'section-head' }, h('h2', { id: 'devices-title' }, 'Devices'), h('label', { class: 'check' }, toggle, ' Show signed-out devices')),
      devices,
    ),
    h('section', { 'aria-labelledby': 'factors-title', class: 'section' }, h('h2', { id: 'factors-title' }, 'Second factors'), factors),
    h('section', { 'aria-labelledby': 'events-title', class: 'section' }, h('h2', { id: 'events-title' }, 'Recent security events'), events),
  );
  mount(header, loading('Loading user…'));
  void Promise.all([loadUser(), loadDevices(), loadFactors(), loadEvents()]);
}
