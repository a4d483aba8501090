import { Attributes, Span, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';

/**
 * Manual spans (argon2, SMTP, mail delivery) and attributes on the request's span (the session),
 * over the OpenTelemetry API alone. Until `enableSpans()` (called by src/telemetry when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set) every helper is a boolean test and a plain call: the hot
 * path pays nothing for tracing that is off, and no SDK is ever loaded.
 *
 * What goes into an attribute is decided by the callers and by src/telemetry's redaction:
 * identifiers (session, user, message ids) yes; tokens, passwords, cookies, links and SQL
 * parameter values never.
 */
let enabled = false;
const TRACER = 'latchkey';

export function enableSpans(): void {
  enabled = true;
}

export function spansEnabled(): boolean {
  return enabled;
}

/**
 * The session a request acted for, on its span: the guard calls this on every protected request,
 * so with tracing off it is one boolean test and no allocation.
 */
export function annotateSession(sessionId: string, userId: string): void {
  if (!enabled) return;
  trace.getActiveSpan()?.setAttributes({ 'latchkey.session_id': sessionId, 'user.id': userId });
}

/** Sets attributes on the span of the current request (or whatever span is active); nothing when off. */
export function annotateActiveSpan(attributes: Attributes): void {
  if (!enabled) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Start a new trace (with a link to the active span) rather than a child: work done for a request after it was answered. */
  root?: boolean;
}

/**
 * Runs `work` inside a span, ending it when the work settles; a failure marks the span as an
 * error with the error's name only (messages may quote input: an address, a server's reply).
 */
export function inSpan<T>(name: string, options: SpanOptions, work: (span: Span | null) => Promise<T>): Promise<T> {
  if (!enabled) return work(null);
  const active = trace.getActiveSpan()?.spanContext();
  const parent = options.root ? trace.deleteSpan(context.active()) : context.active();
  const span = trace.getTracer(TRACER).startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      attributes: options.attributes,
      root: options.root,
      links: options.root && active ? [{ context: active }] : undefined,
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorName(error) });
      span.setAttribute('error.type', errorName(error));
      throw error;
    } finally {
      span.end();
    }
  });
}

function errorName(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
}

export { SpanKind };
