import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedactingSpanProcessor, redactQuery, redactSql, redactUrl } from '../../src/telemetry/redaction';

describe('what a span may carry (src/telemetry/redaction.ts)', () => {
  it('keeps query parameter names and drops their values', () => {
    assert.equal(redactQuery('token=abc&next=%2Fhome&flag'), 'token=REDACTED&next=REDACTED&flag=REDACTED');
    assert.equal(redactUrl('http://h/account/verify?token=s3cr3t#x'), 'http://h/account/verify?token=REDACTED');
    assert.equal(redactUrl('/auth/session'), '/auth/session');
  });

  it('replaces string literals in SQL, keeps identifiers and placeholders', () => {
    assert.equal(
      redactSql(`SELECT "u"."id" FROM users u WHERE state = 'pending' AND email = ? AND note = 'it''s'`),
      `SELECT "u"."id" FROM users u WHERE state = '?' AND email = ? AND note = '?'`,
    );
    assert.ok(redactSql('SELECT ' + 'x, '.repeat(2000)).length <= 2001);
  });

  it('drops credential-shaped attributes, redacts URLs, SQL and exception messages as the span ends', () => {
    const attributes: Record<string, unknown> = {
      'http.request.header.authorization': ['Bearer abc'],
      'http.request.header.cookie': ['lk_refresh=abc'],
      'http.request.header.dpop': ['proof'],
      'app.refresh_token': 'abc',
      'latchkey.session_id': 'sid-1',
      'url.full': 'http://h/account/report?token=abc',
      'url.query': 'token=abc',
      'db.query.text': "SELECT 1 FROM t WHERE secret = 'abc'",
    };
    const event = {
      name: 'exception',
      attributes: {
        'exception.type': 'QueryFailedError',
        'exception.message': "Duplicate entry 'abc'",
        'exception.stacktrace': "QueryFailedError: Duplicate entry 'abc'\n    at x",
      },
    };
    const passed: unknown[] = [];
    const next = { onStart: () => undefined, onEnd: (span: unknown) => passed.push(span), forceFlush: async () => undefined, shutdown: async () => undefined };
    const processor = new RedactingSpanProcessor(next);
    const span = { attributes, events: [event] };
    processor.onEnding(span as never);
    processor.onEnd(span as never);
    assert.deepEqual(attributes, {
      'latchkey.session_id': 'sid-1',
      'url.full': 'http://h/account/report?token=REDACTED',
      'url.query': 'token=REDACTED',
      'db.query.text': "SELECT 1 FROM t WHERE secret = '?'",
    });
    assert.ok(!JSON.stringify(event).includes('abc'));
    assert.equal(passed.length, 1);
  });
});
