import { api, ApiFailure } from './api.js';
import { confirmAction } from './dialog.js';
import { empty, errorState, h, loading, mount, toast } from './dom.js';
import { timeEl } from './format.js';
import type { ResourceServer } from './types.js';

/**
 * The operator's own services that accept latchkey tokens: list, add (the secret is shown this
 * once, with a copy button), remove behind a confirmation.
 */
export function renderServers(view: HTMLElement, onForbidden: () => void): void {
  const list = h('div', { id: 'server-list', 'aria-live': 'polite' });
  const created = h('div', { id: 'server-created' });
  const name = h('input', { id: 'server-name', type: 'text', maxlength: 100, required: true, autocomplete: 'off', placeholder: 'orders-api' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const add = h('button', { type: 'submit', class: 'button button-primary' }, 'Add resource server');
  const form = h(
    'form',
    { class: 'server-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'server-name' }, 'Name'), name),
    error,
    add,
  );

  const load = async () => {
    mount(list, loading('Loading resource servers…'));
    try {
      const { items } = await api<{ items: ResourceServer[] }>('GET', '/admin/resource-servers');
      mount(list, items.length ? table(items, load) : empty('No resource server is registered yet.'));
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 403) return onForbidden();
      mount(
        list,
        errorState(`The resource servers could not be loaded: ${(e as Error).message}`, () => void load()),
      );
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      error.textContent = '';
      if (!name.value.trim()) {
        error.textContent = 'Give the service a name.';
        return name.focus();
      }
      add.disabled = true;
      try {
        const server = await api<ResourceServer & { clientSecret: string }>('POST', '/admin/resource-servers', { body: { name: name.value.trim() } });
        name.value = '';
        mount(created, secretPanel(server));
        await load();
      } catch (e) {
        if (e instanceof ApiFailure && e.status === 403) return onForbidden();
        error.textContent = (e as Error).message;
      } finally {
        add.disabled = false;
      }
    })();
  });

  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Resource servers')),
    h(
      'p',
      { class: 'muted' },
      'Your own services that accept latchkey tokens. Each follows the revocation feed with its credentials, so a revoked session stops working there at once.',
    ),
    form,
    created,
    list,
  );
  void load();
}

function secretPanel(server: ResourceServer & { clientSecret: string }): HTMLElement {
  const secret = h('code', { id: 'server-secret', class: 'secret' }, server.clientSecret);
  const copy = h('button', { type: 'button', class: 'button' }, 'Copy secret');
  copy.addEventListener('click', () => {
    void navigator.clipboard.writeText(server.clientSecret).then(
      () => toast('The secret is on the clipboard.'),
      () => toast('Copying failed: select the secret and copy it by hand.', 'error'),
    );
  });
  return h(
    'section',
    { class: 'panel panel-secret', role: 'status', 'aria-labelledby': 'server-created-title' },
    h('h2', { id: 'server-created-title' }, `${server.name} is registered`),
    h('p', {}, h('strong', {}, 'Copy the secret now: it is shown only this once.'), ' latchkey keeps only a hash of it.'),
    h(
      'dl',
      { class: 'meta' },
      h('dt', {}, 'client_id'),
      h('dd', {}, h('code', { id: 'server-client-id' }, server.clientId)),
      h('dt', {}, 'client_secret'),
      h('dd', {}, secret),
    ),
    copy,
  );
}

function table(items: ResourceServer[], reload: () => Promise<void>): HTMLElement {
  return h(
    'table',
    { class: 'table table-servers' },
    h('caption', { class: 'visually-hidden' }, 'Registered resource servers'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'client_id'),
        h('th', { scope: 'col' }, 'Added'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    h(
      'tbody',
      {},
      items.map((s) => {
        const remove = h('button', { type: 'button', class: 'button button-danger' }, 'Remove');
        remove.addEventListener('click', () => {
          void (async () => {
            const ok = await confirmAction({
              title: `Remove ${s.name}?`,
              body: 'Its credentials stop working: it can no longer follow the revocation feed or introspect tokens.',
              confirm: 'Remove resource server',
              danger: true,
            });
            if (!ok) return;
            try {
              await api('DELETE', `/admin/resource-servers/${s.clientId}`);
              toast(`${s.name} removed.`);
              await reload();
            } catch (e) {
              toast(`Removing failed: ${(e as Error).message}`, 'error');
            }
          })();
        });
        return h(
          'tr',
          { 'data-client-id': s.clientId },
          h('td', { 'data-label': 'Name' }, s.name),
          h('td', { 'data-label': 'client_id' }, h('code', {}, s.clientId)),
          h('td', { 'data-label': 'Added' }, timeEl(s.createdAt)),
          h('td', { 'data-label': 'Actions' }, remove),
        );
      }),
    ),
  );
}
