/**
 * What of an audit event's details is personal data of the people it names: an e-mail address
 * (under any key, or as any value that looks like one), an IP address, a user agent. Account
 * deletion removes exactly these and keeps the rest (reasons, counts, ids), so the log still
 * tells what happened to the account, but no longer who they were or where they came from.
 */
const EMAIL_LIKE = /[^\s@"]+@[^\s@"]+\.[^\s@"]+/;

/** `email`, `newEmail`, `ip`, `clientIp`, `ip_address`, `userAgent`, `user_agent`…; not `ownership`. */
export function isPersonalKey(key: string): boolean {
  const flat = key.replace(/[-_]/g, '').toLowerCase();
  return flat.endsWith('email') || flat.endsWith('useragent') || flat.endsWith('ipaddress') || /^ip$|Ip$|IP$|_ip$/.test(key);
}

/** The details without personal data: such keys dropped, e-mail-like strings replaced by null; nested values too. */
export function withoutPersonalData(value: unknown): unknown {
  if (typeof value === 'string') return EMAIL_LIKE.test(value) ? null : value;
  if (Array.isArray(value)) return value.map(withoutPersonalData);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([key]) => !isPersonalKey(key))
        .map(([key, v]) => [key, withoutPersonalData(v)]),
    );
  }
  return value;
}

/** The details text (JSON) without personal data; text that is not JSON is dropped whole when it holds an address. */
export function detailsWithoutPersonalData(text: string): string | null {
  try {
    return JSON.stringify(withoutPersonalData(JSON.parse(text)));
  } catch {
    return EMAIL_LIKE.test(text) ? null : text;
  }
}
