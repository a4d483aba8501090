import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, PASSWORD, uniqueEmail } from '../support/http';

/** Nothing a client is sent may contain a password hash (argon2 PHC strings start with $argon2). */
function assertNoHash(text: string): void {
  assert.ok(!text.includes('$argon2'), 'response must not contain a password hash');
  assert.ok(!/password_?hash/i.test(text), 'response must not name the password hash');
}

async function userCount(app: TestApp): Promise<number> {
  const rows = await app.database.rows<{ n: number }>('SELECT COUNT(*) AS n FROM users', []);
  return Number(rows[0].n);
}

describe(`registration and the HTTP basics [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;

  before(async () => {
    app = await startApp();
    http = new Http(app.url);
  });
  after(async () => app.close());

  it('serves /health and /health/ready', async () => {
    assert.deepEqual((await http.get('/health')).body, { status: 'ok' });
    const ready = await http.get('/health/ready');
    assert.equal(ready.status, 200);
  });

  it('serves the OpenAPI document and UI', async () => {
    const doc = await http.get('/docs-json');
    assert.equal(doc.status, 200);
    assert.ok(doc.body.paths['/auth/register'], 'register is documented');
    assert.ok(doc.body.paths['/auth/login'], 'login is documented');
    assert.ok(doc.body.components.securitySchemes.bearer, 'bearer security scheme');
    assert.ok(doc.body.paths['/me'].get.security, '/me is marked as bearer-protected by @Auth');
    const ui = await http.get('/docs');
    assert.equal(ui.status, 200);
    assert.match(ui.text, /swagger/i);
  });

  it('registers a user, trimming and lower-casing the e-mail', async () => {
    const raw = `  Mixed.Case-${Date.now()}@Example.COM `;
    const r = await http.post('/auth/register', { email: raw, password: PASSWORD, name: 'Ada' });
    assert.equal(r.status, 201);
    assert.equal(r.body.user.email, raw.trim().toLowerCase());
    assert.equal(r.body.user.name, 'Ada');
    assert.equal(r.body.user.role, 'user');
    assert.match(r.body.user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!Number.isNaN(Date.parse(r.body.user.createdAt)));
    assertNoHash(r.text);
    const stored = await app.database.rows<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = ?', [r.body.user.id]);
    assert.match(stored[0].password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('refuses a duplicate e-mail in any mix of case and white space with 409 email_taken', async () => {
    const email = uniqueEmail('dup');
    assert.equal((await http.post('/auth/register', { email, password: PASSWORD })).status, 201);
    const before = await userCount(app);
    for (const variant of [email, email.toUpperCase(), ` ${email[0].toUpperCase()}${email.slice(1)} `]) {
      const r = await http.post('/auth/register', { email: variant, password: PASSWORD });
      assert.equal(r.status, 409, variant);
      assert.deepEqual(Object.keys(r.body).sort(), ['error', 'message', 'statusCode']);
      assert.equal(r.body.error, 'email_taken');
      assert.ok(!r.text.includes(email), 'the colliding value is not echoed');
    }
    assert.equal(await userCount(app), before);
  });

  const invalid: Array<[string, unknown, string]> = [
    ['missing e-mail', { password: PASSWORD }, 'email'],
    ['missing password', { email: 'a@example.com' }, 'password'],
    ['malformed e-mail', { email: 'not-an-email', password: PASSWORD }, 'email'],
    ['e-mail as a number', { email: 42, password: PASSWORD }, 'email'],
    ['password too short', { email: 'a@example.com', password: 'short' }, 'password'],
    ['password over 128 characters', { email: 'a@example.com', password: 'x'.repeat(129) }, 'password'],
    ['password as an array', { email: 'a@example.com', password: ['x'.repeat(10)] }, 'password'],
    ['password as null', { email: 'a@example.com', password: null }, 'password'],
    ['password of only spaces', { email: 'a@example.com', password: ' '.repeat(10) }, 'password'],
    ['name as an object', { email: 'a@example.com', password: PASSWORD, name: { first: 'x' } }, 'name'],
    ['name too long', { email: 'a@example.com', password: PASSWORD, name: 'n'.repeat(201) }, 'name'],
    ['an unknown field', { email: 'a@example.com', password: PASSWORD, role: 'admin' }, 'role'],
  ];
  for (const [label, body, field] of invalid) {
    it(`answers 400 validation_failed with details for ${label}`, async () => {
      const before = await userCount(app);
      const r = await http.post('/auth/register', body);
      assert.equal(r.status, 400);
      assert.equal(r.body.statusCode, 400);
      assert.equal(r.body.error, 'validation_failed');
      assert.equal(typeof r.body.message, 'string');
      assert.ok(Array.isArray(r.body.details));
      assert.ok(
        r.body.details.some((d: { field: string; message: string }) => d.field === field && typeof d.message === 'string'),
        `details name ${field}: ${r.text}`,
      );
      assert.equal(await userCount(app), before);
    });
  }

  it('answers 400 for malformed JSON, a JSON array and prototype-pollution keys', async () => {
    for (const raw of [
      '{"email": ',
      '[1,2]',
      '"string"',
      '{"__proto__": {"role": "admin"}, "email": "p@example.com", "password": "correct horse"}',
      '{"constructor": {"prototype": {}}, "email": "p@example.com", "password": "correct horse"}',
    ]) {
      const r = await http.post('/auth/register', undefined, { raw });
      assert.equal(r.status, 400, raw);
      assert.equal(r.body.error, 'validation_failed', raw);
    }
  });

  it('answers 413 for a body over 64 KiB and 415 for an unsupported content type', async () => {
    const big = await http.post('/auth/register', { email: 'big@example.com', password: PASSWORD, name: 'x'.repeat(70 * 1024) });
    assert.equal(big.status, 413);
    assert.equal(big.body.error, 'payload_too_large');
    const text = await http.post('/auth/register', undefined, { raw: 'email=a', contentType: 'text/plain' });
    assert.equal(text.status, 415);
    assert.equal(text.body.error, 'unsupported_media_type');
    const form = await http.post('/auth/register', { email: 'f@example.com', password: PASSWORD }, { form: true });
    assert.equal(form.status, 415);
  });

  it('answers 404 not_found in the contract shape for an unknown route', async () => {
    const r = await http.get('/no/such/route');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { statusCode: 404, error: 'not_found', message: 'Not found.' });
  });

  it('sends security headers', async () => {
    const r = await http.get('/health');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(r.headers.get('content-security-policy'));
  });
});

describe(`registration closed [${TEST_DB}]`, () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({ REGISTRATION: 'closed' });
  });
  after(async () => app.close());

  it('answers 403 forbidden and creates nothing', async () => {
    const http = new Http(app.url);
    const r = await http.post('/auth/register', { email: uniqueEmail(), password: PASSWORD });
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'forbidden');
    assert.equal(await userCount(app), 0);
  });
});

describe(`admin bootstrap [${TEST_DB}]`, () => {
  it('creates ADMIN_EMAIL once and never overwrites its password', async () => {
    const { freshDatabase } = await import('../support/app');
    const db = freshDatabase();
    const first = await startApp({ ADMIN_EMAIL: 'Root@Example.com', ADMIN_PASSWORD: 'first password' }, db);
    try {
      const http = new Http(first.url);
      const r = await http.post('/auth/login', { email: 'root@example.com', password: 'first password' });
      assert.equal(r.status, 200);
      assert.equal(r.body.user.role, 'admin');
      assertNoHash(r.text);
    } finally {
      await first.close();
    }
    const second = await startApp({ ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'second password' }, db);
    try {
      const http = new Http(second.url);
      assert.equal((await http.post('/auth/login', { email: 'root@example.com', password: 'second password' })).status, 401);
      assert.equal((await http.post('/auth/login', { email: 'root@example.com', password: 'first password' })).status, 200);
      const rows = await second.database.rows<{ n: number }>("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'", []);
      assert.equal(Number(rows[0].n), 1);
    } finally {
      await second.close();
      await db.drop();
    }
  });
});
