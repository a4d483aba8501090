import { h } from './dom.js';

/**
 * An in-page confirmation: a modal <dialog>, so focus stays inside it, Escape cancels, and
 * focus returns to the button that opened it. Cancel has the focus first: Enter never destroys.
 */
export function confirmAction(options: { title: string; body: string; confirm: string; danger?: boolean }): Promise<boolean> {
  const opener = document.activeElement as HTMLElement | null;
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const cancel = h('button', { type: 'button', class: 'button', autofocus: true }, 'Cancel');
    const ok = h('button', { type: 'button', class: options.danger ? 'button button-danger' : 'button button-primary' }, options.confirm);
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, options.title),
      h('p', {}, options.body),
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
