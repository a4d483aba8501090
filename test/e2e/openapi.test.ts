import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http } from '../support/http';

interface Operation {
  summary?: string;
  security?: Array<Record<string, unknown>>;
  requestBody?: unknown;
  parameters?: unknown[];
  responses: Record<string, { description?: string }>;
}

/** The routes that never touch the database, so a database outage cannot give them a 503. */
const NO_DATABASE = new Set([
  'GET /health',
  'GET /auth/session',
  'GET /auth/session/events',
  'GET /.well-known/jwks.json',
  'GET /.well-known/oauth-authorization-server',
]);

/**
 * The OpenAPI document is generated from the decorators that drive behaviour (@Auth, the OAuth
 * route marker, @AuthRateLimit, @Endpoint, the DTOs), so it cannot drift; this walks it and
 * fails on an operation that a reader could not use without guessing.
 */
describe(`the OpenAPI document at /docs-json [${TEST_DB}]`, () => {
  let app: TestApp;
  let operations: Array<{ name: string; op: Operation }>;

  before(async () => {
    app = await startApp();
    const document = (await new Http(app.url).get('/docs-json')).body as { paths: Record<string, Record<string, Operation>> };
    operations = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
    );
  });
  after(async () => app.close());

  it('lists the operations', () => {
    assert.ok(operations.length >= 21, `${operations.length} operations`);
  });

  it('gives every operation a one-line summary', () => {
    const missing = operations.filter(({ op }) => !op.summary || op.summary.includes('\n')).map((o) => o.name);
    assert.deepEqual(missing, []);
  });

  it('documents the errors each operation really answers', () => {
    const problems: string[] = [];
    for (const { name, op } of operations) {
      const has = (status: number) => op.responses[String(status)] !== undefined;
      const need = (status: number, why: string) => has(status) || problems.push(`${name}: no ${status} (${why})`);
      if (op.security?.some((s) => 'bearer' in s)) need(401, 'it needs an access token');
      if (op.requestBody) {
        need(400, 'it takes a body');
        need(413, 'it takes a body');
        need(415, 'it takes a body');
      }
      if (op.parameters?.length) need(400, 'it takes parameters');
      if (!NO_DATABASE.has(name)) need(503, 'it needs the database');
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400 && !response.description) problems.push(`${name}: ${status} without a description`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('marks the rate-limited routes with their 429', () => {
    for (const name of ['POST /auth/login', 'POST /auth/register', 'POST /me/password', 'PUT /me/password', 'POST /auth/mfa/verify', 'POST /me/step-up']) {
      const found = operations.find((o) => o.name === name);
      assert.ok(found, name);
      assert.ok(found.op.responses['429'], `${name} documents 429`);
    }
  });
});
