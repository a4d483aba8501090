import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './api-error';

/** JSON bodies nested deeper than this are refused: no request of the API nests past 2. */
export const MAX_JSON_DEPTH = 32;

/**
 * Finds the first object key that occurs twice in one object of a JSON text, comparing keys
 * after unescaping (`"a"` and `"\u0061"` are the same key). One linear pass, no recursion, so
 * a deeply nested body cannot exhaust the stack. Expects text that JSON.parse accepts.
 */
export function scanJson(text: string): { duplicate: string | null; tooDeep: boolean } {
  const stack: Array<{ keys: Set<string> | null; expectKey: boolean }> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (escaped) escaped = false;
        else if (d === 0x5c /* \ */) escaped = true;
        else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const raw = text.slice(start, i + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) return { duplicate: key, tooDeep: false };
        top.keys.add(key);
        top.expectKey = false;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= MAX_JSON_DEPTH) return { duplicate: null, tooDeep: true };
      stack.push({ keys: c === 0x7b ? new Set() : null, expectKey: c === 0x7b });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return { duplicate: null, tooDeep: false };
}

type Done = (error: Error | null, body?: unknown) => void;

/**
 * The application/json parser: Fastify's own (which refuses `__proto__` and
 * `constructor.prototype`), after a check that no object repeats a key and nothing nests
 * absurdly deep. A repeated key is how one JSON body says two things to two parsers (a proxy
 * or WAF may read the first value, JSON.parse keeps the last), so it is a 400, not a guess.
 */
export function strictJsonParser(fastify: FastifyInstance): (request: FastifyRequest, body: Buffer, done: Done) => void {
  const parse = fastify.getDefaultJsonParser('error', 'error') as unknown as (request: FastifyRequest, body: string, done: Done) => void;
  return (request, body, done) => {
    const text = body.toString('utf8');
    parse(request, text, (error, value) => {
      if (error) return done(error);
      const { duplicate, tooDeep } = scanJson(text);
      if (tooDeep) return done(ApiError.validation([{ field: 'body', message: `the body must not nest deeper than ${MAX_JSON_DEPTH} levels` }]));
      if (duplicate !== null) return done(ApiError.validation([{ field: duplicate.slice(0, 64), message: 'a field must not be given twice' }]));
      done(null, value);
    });
  };
}
