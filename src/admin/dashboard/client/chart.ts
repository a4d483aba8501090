import { api } from './api.js';
import { h, svg, errorState, loading, mount } from './dom.js';
import { plural } from './format.js';
import type { HourlyCounts } from './types.js';

const HOUR = 3_600_000;

export interface Buckets {
  starts: number[];
  signIns: number[];
  thefts: number[];
}

/** Events of one type per hour from `from` to `to`, counted by the server (GET /admin/events/hourly: one request, no cap). */
async function perHour(type: string, from: number, to: number): Promise<HourlyCounts> {
  const query = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), type });
  return api<HourlyCounts>('GET', `/admin/events/hourly?${query}`);
}

/** The 24 hours ending with the current (local) hour: sign-ins and theft detections per hour. */
async function lastDay(now = Date.now()): Promise<Buckets> {
  const current = new Date(now);
  current.setMinutes(0, 0, 0);
  const from = current.getTime() - 23 * HOUR;
  const to = from + 24 * HOUR;
  const [signIns, thefts] = await Promise.all([perHour('login_succeeded', from, to), perHour('refresh_token_reuse', from, to)]);
  return {
    starts: signIns.hours.map((h) => new Date(h.start).getTime()),
    signIns: signIns.hours.map((h) => h.count),
    thefts: thefts.hours.map((h) => h.count),
  };
}

/** A top of the scale that divides into four whole-number steps. */
function niceMax(n: number): number {
  const raw = Math.max(1, n / 4);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  return Math.max(1, Math.ceil(step)) * 4;
}

const hourFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric' });
const rangeFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: 'numeric', minute: '2-digit' });

export function drawChart(b: Buckets): SVGSVGElement {
  const W = 720;
  const H = 220;
  const left = 36;
  const bottom = 28;
  const top = 12;
  const plotW = W - left - 8;
  const plotH = H - top - bottom;
  const max = niceMax(Math.max(1, ...b.signIns, ...b.thefts));
  const slot = plotW / 24;
  const barW = Math.max(2, (slot - 4) / 2);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const totalIn = b.signIns.reduce((a, c) => a + c, 0);
  const totalTheft = b.thefts.reduce((a, c) => a + c, 0);

  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    svg(
      'g',
      {},
      svg('line', { x1: left, x2: W - 8, y1: y(max * f), y2: y(max * f), class: 'chart-grid' }),
      svg('text', { x: left - 6, y: y(max * f) + 4, class: 'chart-axis', 'text-anchor': 'end' }, String(Math.round(max * f))),
    ),
  );
  const bars = b.starts.map((start, i) => {
    const x = left + i * slot + 2;
    const label = `${rangeFormat.format(new Date(start))}: ${plural(b.signIns[i], 'sign-in')}, ${plural(b.thefts[i], 'theft detection')}`;
    return svg(
      'g',
      { class: 'chart-slot' },
      svg('title', {}, label),
      svg('rect', { x: left + i * slot, y: top, width: slot, height: plotH, class: 'chart-hover' }),
      svg('rect', {
        x,
        y: y(b.signIns[i]),
        'data-count': b.signIns[i],
        width: barW,
        height: Math.max(0, top + plotH - y(b.signIns[i])),
        class: 'chart-bar-signin',
      }),
      svg('rect', {
        x: x + barW,
        y: y(b.thefts[i]),
        'data-count': b.thefts[i],
        width: barW,
        height: Math.max(0, top + plotH - y(b.thefts[i])),
        class: 'chart-bar-theft',
      }),
      i % 3 === 0
        ? svg('text', { x: left + i * slot + slot / 2, y: H - 8, class: 'chart-axis', 'text-anchor': 'middle' }, hourFormat.format(new Date(start)))
        : null,
    );
  });
  return svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      class: 'chart',
      role: 'img',
      'aria-label': `Last 24 hours: ${plural(totalIn, 'sign-in')} and ${plural(totalTheft, 'theft detection')}, per hour.`,
    },
    grid,
    bars,
  );
}

/** The sign-ins and theft detections chart, drawn from the server's hourly counts. */
export function chartPanel(): HTMLElement {
  const body = h('div', { class: 'chart-body' });
  const panel = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'chart-title' },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { id: 'chart-title' }, 'Last 24 hours'),
      h('div', { class: 'legend' }, h('span', { class: 'legend-signin' }, 'Sign-ins'), h('span', { class: 'legend-theft' }, 'Theft detections')),
    ),
    body,
  );
  const load = async () => {
    mount(body, loading('Loading activity…'));
    try {
      const b = await lastDay();
      const signIns = b.signIns.reduce((a, c) => a + c, 0);
      const thefts = b.thefts.reduce((a, c) => a + c, 0);
      const totals = h(
        'p',
        { class: 'chart-totals' },
        h('strong', {}, String(signIns)),
        ` sign-in${signIns === 1 ? '' : 's'} · `,
        h('strong', { class: thefts ? 'text-danger' : '' }, String(thefts)),
        ` theft detection${thefts === 1 ? '' : 's'}`,
      );
      mount(body, totals, drawChart(b));
    } catch (error) {
      mount(
        body,
        errorState(`The activity chart could not be loaded: ${(error as Error).message}`, () => void load()),
      );
    }
  };
  void load();
  return panel;
}
