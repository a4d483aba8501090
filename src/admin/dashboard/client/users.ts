import { api, ApiFailure } from './api.js';
import { empty, errorState, h, loading, mount } from './dom.js';
import { timeEl } from './format.js';
import { CursorPages, pagerNav } from './pager.js';
import type { AdminUser, Page } from './types.js';

/** Kept across navigation, so "back to users" returns to the same search and page. */
const state = { q: '', pages: new CursorPages() };

export function userBadges(user: AdminUser): HTMLElement[] {
  return [
    user.role === 'admin' ? h('span', { class: 'badge badge-admin' }, 'Admin') : null,
    user.disabled ? h('span', { class: 'badge badge-disabled' }, 'Disabled') : null,
    user.mfaEnabled ? h('span', { class: 'badge badge-mfa', title: 'Signs in with a second factor (authenticator app or passkey)' }, '2FA') : null,
    user.emailVerified
      ? h('span', { class: 'badge badge-verified', title: 'The owner has confirmed this e-mail address' }, 'Verified')
      : h('span', { class: 'badge badge-unverified', title: 'The owner has not confirmed this e-mail address yet' }, 'Unverified'),
  ].filter((x): x is HTMLElement => x !== null);
}

export function renderUsers(view: HTMLElement, onForbidden: () => void): void {
  const search = h('input', {
    id: 'user-search',
    type: 'search',
    value: state.q,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e-mail or name',
    'aria-controls': 'user-results',
  });
  const results = h('div', { id: 'user-results', 'aria-live': 'polite' });
  let controller: AbortController | null = null;
  let timer: number | undefined;

  const pager = pagerNav(state.pages, { previous: '← Previous', next: 'Next →', label: 'Pages of users', numbered: true }, () => void load());
  const load = async () => {
    controller?.abort();
    controller = new AbortController();
    const signal = controller.signal;
    results.setAttribute('aria-busy', 'true');
    mount(results, loading('Loading users…'));
    pager.hide();
    const query = new URLSearchParams({ limit: '20' });
    if (state.q) query.set('q', state.q);
    const cursor = state.pages.cursor;
    if (cursor) query.set('cursor', cursor);
    try {
      const page = await api<Page<AdminUser>>('GET', `/admin/users?${query}`, { signal });
      state.pages.record(page.nextCursor);
      results.removeAttribute('aria-busy');
      if (page.items.length === 0) {
        mount(results, empty(state.q ? `No users match “${state.q}”.` : 'There are no users yet.'));
      } else {
        mount(results, table(page.items));
      }
      pager.update();
    } catch (error) {
      if ((error as Error).name === 'AbortError') return;
      results.removeAttribute('aria-busy');
      if (error instanceof ApiFailure && error.status === 403) return onForbidden();
      mount(
        results,
        errorState(`The users could not be loaded: ${(error as Error).message}`, () => void load()),
      );
    }
  };

  search.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      const q = search.value.trim();
      if (q === state.q) return;
      state.q = q;
      state.pages.reset();
      void load();
    }, 250);
  });

  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Users')),
    h('div', { class: 'field field-search' }, h('label', { for: 'user-search' }, 'Search by e-mail or name'), search),
    results,
    pager.element,
  );
  void load();
}

function table(users: AdminUser[]): HTMLElement {
  return h(
    'table',
    { class: 'table table-users' },
    h('caption', { class: 'visually-hidden' }, 'Users, newest first'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'User'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Active devices'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, 'Last sign-in'),
      ),
    ),
    h(
      'tbody',
      {},
      users.map((u) =>
        h(
          'tr',
          { class: u.disabled ? 'row-disabled' : '', 'data-user-id': u.id },
          h(
            'td',
            { 'data-label': 'User' },
            h('a', { href: `#/users/${u.id}`, class: 'user-link' }, u.email),
            u.name ? h('div', { class: 'muted' }, u.name) : null,
          ),
          h('td', { 'data-label': 'Status' }, userBadges(u).length ? userBadges(u) : h('span', { class: 'muted' }, 'Active')),
          h(
            'td',
            { 'data-label': 'Active devices', class: 'num' },
            h('span', { class: u.activeSessions ? 'count' : 'count count-zero' }, String(u.activeSessions)),
          ),
          h('td', { 'data-label': 'Created' }, timeEl(u.createdAt)),
          h('td', { 'data-label': 'Last sign-in' }, timeEl(u.lastLoginAt, 'relative')),
        ),
      ),
    ),
  );
}
