import { h } from './dom.js';

/**
 * An in-page confirmation: a modal <dialog>, so focus stays inside it, Escape cancels, and
 * focus returns to the button that opened it. Cancel has the focus first: Enter never destroys.
 */
export function confirmAction(options: { title: string; body: string; confirm: string; danger?: boolean; typed?: string }): Promise<boolean> {
  const opener = document.activeElement as HTMLElement | null;
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const cancel = h('button', { type: 'button', class: 'button', autofocus: true }, 'Cancel');
    const ok = h(
      'button',
      { type: 'button', class: options.danger ? 'button button-danger' : 'button button-primary', disabled: options.typed !== undefined },
      options.confirm,
    );
    // What cannot be undone is confirmed by typing it, not by a click that habit makes.
    const typed = options.typed === undefined ? null : h('input', { type: 'text', id: `${titleId}-typed`, autocomplete: 'off', spellcheck: 'false' });
    typed?.addEventListener('input', () => (ok.disabled = typed.value.trim() !== options.typed));
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, options.title),
      h('p', {}, options.body),
      typed ? h('div', { class: 'field' }, h('label', { for: typed.id }, 'Type ', h('strong', {}, options.typed), ' to confirm'), typed) : null,
      h('div', { class: 'dialog-actions' }, cancel, ok),
    );
    const close = (result: boolean) => {
      dialog.close();
      dialog.remove();
      opener?.focus();
      resolve(result);
    };
    cancel.addEventListener('click', () => close(false));
    ok.addEventListener('click', () => close(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
