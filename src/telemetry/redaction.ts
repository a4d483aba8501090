import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-node';

/**
 * What never leaves the process in a span, whichever instrumentation wrote it. The instrumentations
 * are configured not to record these in the first place (no headers captured, query values and
 * Redis arguments left out, SQL without its parameters); this is the second line, applied to every
 * span as it ends, so a new instrumentation or a future default cannot leak them.
 */

/** Attribute keys that may hold a credential (captured headers, custom attributes): dropped whole. */
const SECRET_KEY = /authorization|cookie|dpop|token|password|passwd|secret|csrf|api[-_.]?key/i;
/** Our own identifiers whose names contain one of those words but are not secrets. */
const ALLOWED_KEYS = new Set(['latchkey.session_id']);
/** Attributes that carry a URL or a query: kept without their query values. */
const URL_KEYS = ['url.full', 'url.query', 'http.url', 'http.target', 'url.original'];

/** `a=1&b=2` → `a=REDACTED&b=REDACTED`: which parameters came is worth knowing, their values never (links carry tokens). */
export function redactQuery(query: string): string {
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => `${pair.split('=')[0]}=REDACTED`)
    .join('&');
}

/** A URL or path with its query values redacted. */
export function redactUrl(value: string, queryOnly = false): string {
  if (queryOnly) return redactQuery(value);
  const at = value.indexOf('?');
  return at < 0 ? value : `${value.slice(0, at)}?${redactQuery(value.slice(at + 1))}`;
}

/**
 * SQL text with every string literal replaced: statements bind their values, and a literal that
 * slipped in stays out too. Double quotes are identifiers (SQLite, TypeORM) and kept; MySQL's are
 * backticks.
 */
export function redactSql(sql: string): string {
  const masked = sql.replace(/'(?:[^'\\]|\\.|'')*'/g, "'?'");
  return masked.length > 2000 ? masked.slice(0, 2000) + '…' : masked;
}

export class RedactingSpanProcessor implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.next.onStart(span, parentContext);
  }

  /** Before the span is frozen: attributes can still be replaced or removed. */
  onEnding(span: Span): void {
    scrub(span.attributes);
    for (const event of span.events) if (event.attributes) scrub(event.attributes);
  }

  onEnd(span: ReadableSpan): void {
    this.next.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}

function scrub(attributes: Record<string, unknown>): void {
  for (const key of Object.keys(attributes)) {
    if (SECRET_KEY.test(key) && !ALLOWED_KEYS.has(key)) delete attributes[key];
  }
  for (const key of URL_KEYS) {
    const value = attributes[key];
    if (typeof value === 'string') attributes[key] = redactUrl(value, key === 'url.query');
  }
  for (const key of ['db.query.text', 'db.statement']) {
    const value = attributes[key];
    if (typeof value === 'string') attributes[key] = redactSql(value);
  }
  // An exception's message can quote what the client sent (a duplicate e-mail, a malformed token).
  if (typeof attributes['exception.message'] === 'string') attributes['exception.message'] = '(redacted)';
  const stack = attributes['exception.stacktrace'];
  if (typeof stack === 'string') attributes['exception.stacktrace'] = stack.replace(/^[^\n]*/, String(attributes['exception.type'] ?? 'Error'));
}
