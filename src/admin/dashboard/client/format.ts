/** Dates are shown in the viewer's local time and language. */
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : full.format(d);
}

export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
  ];
  for (const [unit, ms] of units) {
    if (abs >= ms) return relativeFormat.format(Math.round(diff / ms), unit);
  }
  return abs < 10_000 ? 'just now' : relativeFormat.format(Math.round(diff / 1000), 'second');
}

/** A <time> element: local date, with the relative time in the tooltip. */
export function timeEl(iso: string | null | undefined, style: 'date' | 'relative' = 'date'): HTMLElement {
  if (!iso) {
    const span = document.createElement('span');
    span.textContent = style === 'relative' ? 'never' : '—';
    return span;
  }
  const el = document.createElement('time');
  el.dateTime = iso;
  el.textContent = style === 'date' ? formatDate(iso) : relative(iso);
  el.title = style === 'date' ? relative(iso) : formatDate(iso);
  return el;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
