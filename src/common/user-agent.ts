/**
 * A small user-agent parser: enough to tell an admin "Safari on iPhone" from "Chrome on
 * Windows". Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
 */
export interface ParsedAgent {
  browser: string;
  os: string;
  /** phone, tablet, desktop, or an app/tool when the agent is not a browser. */
  kind: 'phone' | 'tablet' | 'desktop' | 'app' | 'unknown';
  /** A readable name for the device itself: "iPhone", "Pixel 8", "Windows PC". */
  device: string;
}

const BROWSERS: Array<[RegExp, string]> = [
  [/EdgA?\/([\d]+)/, 'Edge'],
  [/EdgiOS\/([\d]+)/, 'Edge'],
  [/OPR\/([\d]+)/, 'Opera'],
  [/SamsungBrowser\/([\d]+)/, 'Samsung Internet'],
  [/YaBrowser\/([\d]+)/, 'Yandex Browser'],
  [/Vivaldi\/([\d]+)/, 'Vivaldi'],
  [/FxiOS\/([\d]+)/, 'Firefox'],
  [/Firefox\/([\d]+)/, 'Firefox'],
  [/CriOS\/([\d]+)/, 'Chrome'],
  [/Chrom(?:e|ium)\/([\d]+)/, 'Chrome'],
  [/Version\/([\d]+)(?:\.[\d]+)*.*Safari\//, 'Safari'],
  [/curl\/([\d.]+)/, 'curl'],
  [/okhttp\/([\d.]+)/, 'OkHttp'],
  [/python-requests\/([\d.]+)/, 'Python requests'],
  [/PostmanRuntime\/([\d.]+)/, 'Postman'],
  [/node(?:-fetch)?\/?([\d.]*)/i, 'Node.js'],
];

const WINDOWS: Record<string, string> = { '10.0': '10/11', '6.3': '8.1', '6.2': '8', '6.1': '7' };

function osOf(ua: string): { os: string; kind: ParsedAgent['kind']; device: string } {
  let m: RegExpExecArray | null;
  if ((m = /iPad.*OS (\d+)[_.](\d+)/.exec(ua))) return { os: `iPadOS ${m[1]}.${m[2]}`, kind: 'tablet', device: 'iPad' };
  if ((m = /iPhone.*OS (\d+)[_.](\d+)/.exec(ua))) return { os: `iOS ${m[1]}.${m[2]}`, kind: 'phone', device: 'iPhone' };
  if ((m = /Android (\d+(?:\.\d+)?)/.exec(ua))) {
    const tablet = !/Mobile/.test(ua);
    const parts = (/\(([^)]*Android[^)]*)\)/.exec(ua)?.[1] ?? '').split(';').map((p) => p.trim());
    const after = parts.slice(parts.findIndex((p) => p.startsWith('Android')) + 1);
    const model = after.find((p) => p && !/^[a-z]{2}[-_][A-Za-z]{2}$/.test(p) && !/^(wv|K|U)$/.test(p))?.replace(/\s*Build\/.*$/, '');
    return { os: `Android ${m[1]}`, kind: tablet ? 'tablet' : 'phone', device: model || (tablet ? 'Android tablet' : 'Android phone') };
  }
  if ((m = /Windows NT (\d+\.\d+)/.exec(ua))) return { os: `Windows ${WINDOWS[m[1]] ?? m[1]}`, kind: 'desktop', device: 'Windows PC' };
  if ((m = /Mac OS X (\d+)[_.](\d+)/.exec(ua))) return { os: `macOS ${m[1]}.${m[2]}`, kind: 'desktop', device: 'Mac' };
  if (/Macintosh/.test(ua)) return { os: 'macOS', kind: 'desktop', device: 'Mac' };
  if (/CrOS/.test(ua)) return { os: 'ChromeOS', kind: 'desktop', device: 'Chromebook' };
  if (/Ubuntu/.test(ua)) return { os: 'Ubuntu', kind: 'desktop', device: 'Linux PC' };
  if (/Linux/.test(ua)) return { os: 'Linux', kind: 'desktop', device: 'Linux PC' };
  return { os: 'Unknown OS', kind: 'unknown', device: 'Unknown device' };
}

export function parseUserAgent(ua: string | null | undefined): ParsedAgent {
  if (!ua) return { browser: 'Unknown browser', os: 'Unknown OS', kind: 'unknown', device: 'Unknown device' };
  const { os, kind, device } = osOf(ua);
  for (const [pattern, name] of BROWSERS) {
    const m = pattern.exec(ua);
    if (m) {
      const version = m[1] ? ` ${m[1].split('.')[0]}` : '';
      const isTool = ['curl', 'OkHttp', 'Python requests', 'Postman', 'Node.js'].includes(name);
      if (isTool && kind === 'unknown') return { browser: `${name}${version}`, os: 'Unknown OS', kind: 'app', device: `${name} client` };
      return { browser: `${name}${version}`, os, kind, device };
    }
  }
  return { browser: 'Unknown browser', os, kind, device };
}

/**
 * Characters that can forge the look of a line of text someone reads: controls (C0, C1 with NEL
 * U+0085, so CR and LF too), line and paragraph separators (U+2028, U+2029), and the bidi
 * controls (embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069, the marks U+200E,
 * U+200F and U+061C) that make "exe.gpj" read "jpg.exe" or push a fake line into an alert.
 * A device name containing one is refused at login; anything else that reaches a mail (a user
 * agent, a name stored before the rule) has them replaced (`oneLine`).
 */
export const LINE_OR_BIDI_CONTROL = /[\p{Cc}\p{Zl}\p{Zp}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
const LINE_OR_BIDI_CONTROLS = new RegExp(LINE_OR_BIDI_CONTROL.source, 'gu');

/** The text as one plain line: each line-breaking or bidi control becomes U+FFFD, visibly. */
export function oneLine(text: string): string {
  return text.replace(LINE_OR_BIDI_CONTROLS, '\uFFFD');
}

/** What to call a session's device: the name the client gave it, else what the agent says; always one plain line. */
export function deviceLabel(deviceName: string | null, ua: string | null): string {
  if (deviceName && deviceName.trim()) return oneLine(deviceName.trim());
  const p = parseUserAgent(ua);
  return oneLine(p.kind === 'unknown' || p.kind === 'app' ? p.device : `${p.browser.replace(/ \d+$/, '')} on ${p.device}`);
}
