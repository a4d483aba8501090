import { h } from './dom.js';

/** Keyset paging state for one list: the cursor of every page seen, so "previous" is exact. */
export class CursorPages {
  private cursors: Array<string | null> = [null];
  page = 0;

  get cursor(): string | null {
    return this.cursors[this.page];
  }

  get hasNext(): boolean {
    return Boolean(this.cursors[this.page + 1]);
  }

  reset(): void {
    this.cursors = [null];
    this.page = 0;
  }

  /** After a page loaded: where the next one starts (null on the last page). */
  record(nextCursor: string | null): void {
    this.cursors[this.page + 1] = nextCursor;
    this.cursors.length = this.page + 2;
  }
}

/** Previous/next buttons for a CursorPages, calling `load` after each move. */
export function pagerNav(pages: CursorPages, labels: { previous: string; next: string; label: string; numbered?: boolean }, load: () => void) {
  const prev = h('button', { type: 'button', class: 'button' }, labels.previous);
  const next = h('button', { type: 'button', class: 'button' }, labels.next);
  const info = labels.numbered ? h('span', { class: 'muted' }) : null;
  const element = h('nav', { class: 'pager', 'aria-label': labels.label }, prev, info, next);
  prev.addEventListener('click', () => {
    if (pages.page > 0) pages.page -= 1;
    load();
  });
  next.addEventListener('click', () => {
    if (pages.hasNext) pages.page += 1;
    load();
  });
  return {
    element,
    hide: () => (element.hidden = true),
    /** Reflects the current page once it is shown. */
    update: () => {
      prev.disabled = pages.page === 0;
      next.disabled = !pages.hasNext;
      if (info) info.textContent = `Page ${pages.page + 1}`;
      element.hidden = pages.page === 0 && !pages.hasNext;
    },
  };
}
