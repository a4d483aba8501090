import { api, ApiFailure, currentUserId } from './api.js';
import { chartPanel } from './chart.js';
import { empty, errorState, h, loading, mount } from './dom.js';
import { describe, typeLabel } from './events-text.js';
import { timeEl } from './format.js';
import { CursorPages, pagerNav } from './pager.js';
import { parseUserAgent } from '../../../common/user-agent.js';
import { EVENT_TYPES, type AdminUser, type AuditEvent, type Page } from './types.js';

/** user id → e-mail, filled as events name users. */
const emails = new Map<string, string>();

async function resolveEmails(events: AuditEvent[]): Promise<void> {
  const ids = new Set<string>();
  for (const e of events) for (const id of [e.userId, e.actorId]) if (id && !emails.has(id)) ids.add(id);
  await Promise.all(
    [...ids].map(async (id) => {
      try {
        emails.set(id, (await api<AdminUser>('GET', `/admin/users/${id}`)).email);
      } catch {
        /* shown by id */
      }
    }),
  );
}

function who(id: string): string {
  return emails.get(id) ?? `user ${id.slice(-6)}`;
}

const SEVERE = new Set(['refresh_token_reuse', 'invalid_dpop_proof']);
const WARN = new Set(['login_failed', 'user_disabled', 'rate_limited']);

export function eventRow(e: AuditEvent, options: { showUser: boolean }): HTMLElement {
  const theft = SEVERE.has(e.type);
  const agent = e.userAgent ? parseUserAgent(e.userAgent) : null;
  const actor = e.actorId && e.actorId !== e.userId ? (e.actorId === currentUserId() ? 'by you' : `by ${who(e.actorId)}`) : null;
  const detail = describe(e);
  return h(
    'li',
    { class: `event${theft ? ' event-theft' : WARN.has(e.type) ? ' event-warn' : ''}`, 'data-type': e.type },
    h(
      'div',
      { class: 'event-main' },
      h('span', { class: `badge badge-${theft ? 'theft' : WARN.has(e.type) ? 'warn' : 'info'}` }, theft ? '⚠ Theft detected' : typeLabel(e.type)),
      options.showUser && e.userId ? h('a', { href: `#/users/${e.userId}` }, who(e.userId)) : null,
      actor ? h('span', { class: 'muted' }, actor) : null,
    ),
    detail ? h('p', { class: 'event-detail' }, detail) : null,
    h(
      'p',
      { class: 'event-meta muted' },
      timeEl(e.createdAt),
      e.ip ? ` · ${e.ip}` : '',
      agent ? ` · ${agent.kind === 'app' ? agent.browser : `${agent.browser} on ${agent.os}`}` : '',
    ),
  );
}

const state = { type: '', userId: '', pages: new CursorPages() };

export function renderEvents(view: HTMLElement, params: URLSearchParams, onForbidden: () => void): void {
  const type = params.get('type') ?? '';
  const userId = params.get('userId') ?? '';
  if (type !== state.type || userId !== state.userId) {
    Object.assign(state, { type, userId });
    state.pages.reset();
  }

  const select = h(
    'select',
    { id: 'event-type' },
    h('option', { value: '' }, 'All events'),
    EVENT_TYPES.map((t) => h('option', { value: t, selected: t === state.type }, typeLabel(t))),
  );
  select.addEventListener('change', () => {
    const next = new URLSearchParams();
    if (select.value) next.set('type', select.value);
    if (state.userId) next.set('userId', state.userId);
    location.hash = `#/events${next.size ? `?${next}` : ''}`;
  });
  const list = h('div', { id: 'event-list', 'aria-live': 'polite' });
  const pager = pagerNav(state.pages, { previous: '← Newer', next: 'Older →', label: 'Pages of events' }, () => void load());

  const load = async () => {
    list.setAttribute('aria-busy', 'true');
    mount(list, loading('Loading events…'));
    pager.hide();
    const query = new URLSearchParams({ limit: '25' });
    if (state.type) query.set('type', state.type);
    if (state.userId) query.set('userId', state.userId);
    const cursor = state.pages.cursor;
    if (cursor) query.set('cursor', cursor);
    try {
      const page = await api<Page<AuditEvent>>('GET', `/admin/events?${query}`);
      await resolveEmails(page.items);
      state.pages.record(page.nextCursor);
      list.removeAttribute('aria-busy');
      mount(
        list,
        page.items.length
          ? h(
              'ul',
              { class: 'events' },
              page.items.map((e) => eventRow(e, { showUser: true })),
            )
          : empty('No events match this filter.'),
      );
      pager.update();
    } catch (error) {
      list.removeAttribute('aria-busy');
      if (error instanceof ApiFailure && error.status === 403) return onForbidden();
      mount(
        list,
        errorState(`The events could not be loaded: ${(error as Error).message}`, () => void load()),
      );
    }
  };

  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Security events')),
    chartPanel(),
    h(
      'div',
      { class: 'filters' },
      h('div', { class: 'field' }, h('label', { for: 'event-type' }, 'Show'), select),
      state.userId
        ? h(
            'p',
            { class: 'chip' },
            'Only user ',
            h('a', { href: `#/users/${state.userId}` }, who(state.userId)),
            ' · ',
            h('a', { href: `#/events${state.type ? `?type=${state.type}` : ''}` }, 'show everyone'),
          )
        : null,
    ),
    list,
    pager.element,
  );
  void load();
}
