import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, createSign } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import * as jwt from 'jsonwebtoken';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { addResourceServer, basicAuth } from '../support/resource-servers';
import { Http, PASSWORD, Tokens, eventually, login, register, uniqueEmail } from '../support/http';
import { SigningKeysService } from '../../src/auth/signing-keys.service';
import { SoftwareAuthenticator } from '../support/webauthn';
import { PasswordService } from '../../src/users/password.service';

/**
 * Table-driven hostile input: every route gets wrong types, nulls, arrays, nested objects,
 * huge strings, unicode edge cases, SQL-looking strings, pollution keys, wrong content types,
 * duplicate JSON keys, bad path ids, absurd Authorization headers and oversized headers.
 * Each answer must be a contract error (never a 5xx), and nothing may change in the database.
 */

/** The contract's error codes (docs/API.md), plus the two header/URL size answers the contract leaves to us. */
const CONTRACT_ERRORS = new Set([
  'validation_failed',
  'invalid_request',
  'invalid_grant',
  'unsupported_grant_type',
  'invalid_credentials',
  'invalid_token',
  'forbidden',
  'account_disabled',
  'not_found',
  'email_taken',
  'payload_too_large',
  'unsupported_media_type',
  'too_many_requests',
  'service_unavailable',
  'request_header_fields_too_large',
  'uri_too_long',
  'invalid_client',
  'invalid_link',
  'email_unverified',
  'invalid_mfa_token',
  'insufficient_user_authentication',
  'mfa_enrollment_required',
  'factor_exists',
  'factor_limit',
]);
const ADMIN_EMAIL = 'root-hostile@example.com';
const ADMIN_PASSWORD = 'admin password 123';

type Who = 'user' | 'admin' | 'none';

interface Case {
  category: string;
  name: string;
  method: string;
  path: string;
  /** JSON-encoded unless `raw` is given. */
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Whose access token to send; an explicit authorization header wins. */
  as?: Who;
  /** Send these exact bytes on a socket instead (header tricks Node's client refuses). */
  wire?: string | Buffer;
  /** Acceptable statuses; by default any contract 4xx. */
  expect?: number[];
  /** The error code expected, when the case pins it. */
  error?: string;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(port: number, c: Case, tokens: Record<Who, string | null>): Promise<Answer> {
  if (c.wire !== undefined) return sendWire(port, c.wire);
  const headers: Record<string, string> = {};
  const token = tokens[c.as ?? 'none'];
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: Buffer | undefined;
  if (c.raw !== undefined) payload = Buffer.isBuffer(c.raw) ? c.raw : Buffer.from(c.raw, 'utf8');
  else if (c.body !== undefined) payload = Buffer.from(JSON.stringify(c.body), 'utf8');
  if (payload !== undefined) {
    headers['content-type'] = c.contentType ?? 'application/json';
    headers['content-length'] = String(payload.length);
  } else if (c.contentType) headers['content-type'] = c.contentType;
  Object.assign(headers, c.headers ?? {});
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: c.method, path: c.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Writes raw bytes and parses the HTTP/1.1 answer (Connection: close, Content-Length or chunked). */
function sendWire(port: number, bytes: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(all.slice(0, 200))}`));
      const [statusLine, ...lines] = all.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = all.slice(split + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        let out = '';
        for (;;) {
          const nl = body.indexOf('\r\n');
          const size = parseInt(body.slice(0, nl), 16);
          if (!size) break;
          out += body.slice(nl + 2, nl + 2 + size);
          body = body.slice(nl + 2 + size + 2);
        }
        body = out;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text: Buffer.from(body, 'latin1').toString('utf8') });
    });
    socket.end(bytes);
  });
}

/** Row counts and a hash of every row, per table; audit events are listed by id. */
interface Snapshot {
  tables: Record<string, { rows: number; hash: string }>;
  audit: Map<string, string>;
}

const canonical = (row: Record<string, unknown>) =>
  JSON.stringify(
    Object.keys(row)
      .sort()
      .map((k) => [k, row[k] === null || row[k] === undefined ? null : String(row[k])]),
  );

async function snapshot(app: TestApp): Promise<Snapshot> {
  const tables: Snapshot['tables'] = {};
  for (const [table, key] of [
    ['users', 'id'],
    ['sessions', 'id'],
    ['signing_keys', 'kid'],
    ['resource_servers', 'client_id'],
    ['session_revocations', 'session_id'],
    ['revocation_sequence', 'id'],
    ['account_links', 'id'],
    ['mfa_factors', 'id'],
    ['mfa_challenges', 'id'],
    ['recovery_codes', 'id'],
    ['trusted_devices', 'id'],
  ]) {
    const rows = await app.database.rows<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY ${key}`, []);
    const hash = createHash('sha256');
    for (const row of rows) hash.update(canonical(row)).update('\n');
    tables[table] = { rows: rows.length, hash: hash.digest('hex') };
  }
  // The outbox's rows change as the sender delivers them; what a request must not do is add one.
  const mails = await app.database.rows<{ id: string }>('SELECT id FROM mail_outbox ORDER BY id', []);
  tables.mail_outbox = {
    rows: mails.length,
    hash: createHash('sha256')
      .update(mails.map((m) => m.id).join('\n'))
      .digest('hex'),
  };
  const audit = new Map<string, string>();
  for (const row of await app.database.rows<Record<string, unknown>>('SELECT * FROM audit_events ORDER BY id', [])) audit.set(String(row.id), canonical(row));
  return { tables, audit };
}

/**
 * users, sessions and signing_keys must be byte-for-byte unchanged. audit_events is append-only
 * by design and a failed login is *supposed* to append `login_failed`; so existing events must be
 * unchanged and any new one must be a login_failed.
 */
function assertUnchanged(before: Snapshot, after: Snapshot, label: string): void {
  assert.deepEqual(
    after.tables,
    before.tables,
    `${label}: users, sessions, keys, resource servers, the revocation log, account links and the mail outbox are unchanged`,
  );
  for (const [id, row] of before.audit) assert.equal(after.audit.get(id), row, `${label}: audit event ${id} unchanged`);
  for (const [id, row] of after.audit) {
    if (!before.audit.has(id)) assert.match(row, /"type","login_failed"/, `${label}: only login_failed events may be appended, got ${row}`);
  }
}

/** The victim asks for a reset; the development outbox (DATA_DIR/outbox) has the mail. Waits until the outbox is idle. */
async function mailedResetToken(app: TestApp, http: Http, email: string): Promise<string> {
  assert.equal((await http.post('/auth/password/forgot', { email })).status, 202);
  const outbox = join(app.config.dataDir, 'outbox');
  let token: string | undefined;
  await eventually(
    async () => {
      const pending = await app.database.rows<{ n: number }>("SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'pending'", []);
      if (Number(pending[0].n) > 0 || !existsSync(outbox)) return false;
      for (const file of readdirSync(outbox)) {
        const text = readFileSync(join(outbox, file), 'utf8')
          .replace(/=\r?\n/g, '')
          .replace(/=3D/g, '=');
        token = /reset-password#token=([0-9a-f-]{36}\.[A-Za-z0-9_-]{43})/.exec(text)?.[1] ?? token;
      }
      return token !== undefined;
    },
    15_000,
    20,
  );
  return token!;
}

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe(`hostile input on every route [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  let port: number;
  let user: { id: string; email: string };
  let userTokens: Tokens;
  let adminTokens: Tokens;
  let tokens: Record<Who, string | null>;
  /** Resource-server credentials: a registered server's, and a removed one's. */
  let rsBasic: string;
  let removedBasic: string;
  /** A real, unused password-reset link of the victim's (from the development outbox). */
  let linkToken: string;
  const counts = new Map<string, number>();
  let hashCalls = 0;
  let verifyCalls = 0;
  let keyLookups = 0;
  /** From the OpenAPI document, which the route decorators generate: the form-taking OAuth paths, and every operation that takes input. */
  let oauthPaths: Set<string>;
  let operationsWithInput: Array<{ method: string; path: RegExp; name: string }>;

  before(async () => {
    // RS256: the forged tokens below are built by hand with the app's RSA key.
    app = await startApp({ ADMIN_EMAIL, ADMIN_PASSWORD, JWT_ALG: 'RS256' });
    http = new Http(app.url);
    port = Number(new URL(app.url).port);
    user = await register(http, uniqueEmail('victim'));
    userTokens = await login(http, user.email);
    adminTokens = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD);
    tokens = { user: userTokens.access_token, admin: adminTokens.access_token, none: null };
    rsBasic = (await addResourceServer(http, adminTokens.access_token, 'hostile-rs')).basic;
    const removed = await addResourceServer(http, adminTokens.access_token, 'removed-rs');
    await http.delete(`/admin/resource-servers/${removed.clientId}`, { token: adminTokens.access_token });
    removedBasic = removed.basic;
    linkToken = await mailedResetToken(app, http, user.email);
    const document = (await http.get('/docs-json')).body as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> }; parameters?: unknown[] }>>;
    };
    oauthPaths = new Set();
    operationsWithInput = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        if (op.requestBody?.content['application/x-www-form-urlencoded']) oauthPaths.add(path);
        if (op.requestBody || op.parameters?.length) {
          operationsWithInput.push({
            method: method.toUpperCase(),
            path: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}(\\?|$)`),
            name: `${method.toUpperCase()} ${path}`,
          });
        }
      }
    }
    // Count (not replace) the expensive operations, to show what is refused before them.
    const passwords = app.app.get(PasswordService);
    const hash = passwords.hash.bind(passwords);
    const verify = passwords.verify.bind(passwords);
    passwords.hash = (p: string) => (hashCalls++, hash(p));
    passwords.verify = (h: string | null | undefined, p: string, admit?: () => Promise<void>) => (verifyCalls++, verify(h, p, admit));
    const keys = app.app.get(SigningKeysService);
    const lookup = keys.verificationKey.bind(keys);
    keys.verificationKey = (kid: string) => (keyLookups++, lookup(kid));
  });
  after(async () => {
    const lines = [...counts].map(([k, n]) => `  ${k}: ${n}`).join('\n');
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`# hostile requests by category [${TEST_DB}] (${total} in all):\n${lines}\n`);
    await app?.close();
  });

  /** Everything that can be built before the app exists is built lazily, per test. */
  function cases(): Case[] {
    const list: Case[] = [];
    const add = (c: Case) => list.push(c);
    const other = uniqueEmail('other');
    const userId = user.id;
    const sessionId = userTokens.session_id;
    const missing = '0190a0a0-0000-7000-8000-000000000000';
    // Well-formed WebAuthn credentials (a software authenticator's) that the cases below spoil one field at a time.
    const device = new SoftwareAuthenticator();
    const passkeyRegistration = device.register({ challenge: 'AAAA', rp: { id: 'localhost', name: 'x' }, user: { id: 'AAAA', name: 'x' } });
    const passkeyAssertion = device.authenticate({ challenge: 'AAAA', rpId: 'localhost' });

    // ---------- wrong types, nulls, arrays, nested objects per field ----------
    const wrongTypes: Array<[string, unknown]> = [
      ['a number', 42],
      ['a boolean', true],
      ['an object', { a: 1 }],
      ['an empty array', []],
      ['an array of strings', ['x', 'y']],
      ['a Mongo-style operator', { $gt: '' }],
      ['a float', 1.5e308],
      ['null', null],
    ];
    const fields: Array<{ path: string; as?: Who; base: Record<string, unknown>; field: string; error?: string }> = [
      { path: '/auth/register', base: { email: other, password: PASSWORD, name: 'N' }, field: 'email' },
      { path: '/auth/register', base: { email: other, password: PASSWORD, name: 'N' }, field: 'password' },
      { path: '/auth/register', base: { email: other, password: PASSWORD, name: 'N' }, field: 'name' },
      { path: '/auth/login', base: { email: user.email, password: PASSWORD }, field: 'email' },
      { path: '/auth/login', base: { email: user.email, password: PASSWORD }, field: 'password' },
      { path: '/auth/login', base: { email: user.email, password: PASSWORD, deviceId: 'device-0001' }, field: 'deviceId' },
      { path: '/auth/login', base: { email: user.email, password: PASSWORD, deviceName: 'x' }, field: 'deviceName' },
      { path: '/auth/login', base: { email: user.email, password: PASSWORD, useCookie: true }, field: 'useCookie' },
      { path: '/me/password', as: 'user', base: { currentPassword: PASSWORD, newPassword: 'a new password' }, field: 'currentPassword' },
      { path: '/me/password', as: 'user', base: { currentPassword: PASSWORD, newPassword: 'a new password' }, field: 'newPassword' },
      { path: '/auth/token', base: { grant_type: 'refresh_token', refresh_token: userTokens.refresh_token }, field: 'grant_type', error: 'invalid_request' },
      { path: '/auth/token', base: { grant_type: 'refresh_token', refresh_token: userTokens.refresh_token }, field: 'refresh_token', error: 'invalid_request' },
      { path: '/auth/revoke', base: { token: userTokens.refresh_token }, field: 'token', error: 'invalid_request' },
      { path: '/auth/revoke', base: { token: userTokens.refresh_token, token_type_hint: 'refresh_token' }, field: 'token_type_hint', error: 'invalid_request' },
      { path: '/auth/password/forgot', base: { email: user.email }, field: 'email' },
      { path: '/auth/password/reset', base: { token: linkToken, newPassword: 'a new password' }, field: 'token' },
      { path: '/auth/password/reset', base: { token: linkToken, newPassword: 'a new password' }, field: 'newPassword' },
      { path: '/auth/email/verify', base: { token: linkToken }, field: 'token' },
      { path: '/auth/sessions/report', base: { token: linkToken }, field: 'token' },
      { path: '/me/email', as: 'user', base: { newEmail: other, password: PASSWORD }, field: 'newEmail' },
      { path: '/me/email', as: 'user', base: { newEmail: other, password: PASSWORD }, field: 'password' },
      { path: '/auth/email/confirm', base: { token: linkToken }, field: 'token' },
      { path: '/auth/email/revert', base: { token: linkToken }, field: 'token' },
      { path: '/me/factors/passkey', as: 'user', base: { credential: passkeyRegistration, name: 'Key' }, field: 'credential' },
      { path: '/me/factors/passkey', as: 'user', base: { credential: passkeyRegistration, name: 'Key' }, field: 'name' },
      { path: '/auth/passkey/login', base: { credential: passkeyAssertion }, field: 'credential' },
      { path: '/auth/passkey/login', base: { credential: passkeyAssertion, deviceId: 'device-0001' }, field: 'deviceId' },
      { path: '/auth/passkey/login', base: { credential: passkeyAssertion, deviceName: 'x' }, field: 'deviceName' },
      { path: '/auth/passkey/login', base: { credential: passkeyAssertion, useCookie: true }, field: 'useCookie' },
    ];
    for (const f of fields) {
      for (const [label, value] of wrongTypes) {
        // useCookie: true is the one boolean field; "a boolean" is its right type.
        if (f.field === 'useCookie' && typeof value === 'boolean') continue;
        add({
          category: label === 'null' ? 'nulls' : 'wrong types, arrays, nested objects',
          name: `${f.path} ${f.field} as ${label}`,
          method: 'POST',
          path: f.path,
          as: f.as,
          body: { ...f.base, [f.field]: value },
          expect: [400],
          error: f.error ?? 'validation_failed',
        });
      }
    }
    for (const value of ['yes', 'true', 1, 0, 'on']) {
      add({
        category: 'wrong types, arrays, nested objects',
        name: `useCookie as ${JSON.stringify(value)}`,
        method: 'POST',
        path: '/auth/login',
        body: { email: user.email, password: PASSWORD, useCookie: value },
        expect: [400],
        error: 'validation_failed',
      });
    }
    // Inside a WebAuthn credential: each member of the wrong type or shape is a 400 before any decoding.
    const spoiled: Array<[string, unknown]> = [
      ['an id that is not base64url', { ...passkeyAssertion, id: 'a+b/c=', rawId: 'a+b/c=' }],
      ['id and rawId that differ', { ...passkeyAssertion, rawId: 'AAAA' }],
      ['a 2 KB id', { ...passkeyAssertion, id: 'A'.repeat(2048), rawId: 'A'.repeat(2048) }],
      ['another type', { ...passkeyAssertion, type: 'password' }],
      ['an unknown member', { ...passkeyAssertion, __proto__x: 1 }],
      ['a response that is an array', { ...passkeyAssertion, response: [] }],
      ['a signature that is a number', { ...passkeyAssertion, response: { ...passkeyAssertion.response, signature: 7 } }],
      ['a userHandle that is an object', { ...passkeyAssertion, response: { ...passkeyAssertion.response, userHandle: { $ne: null } } }],
      ['clientDataJSON with SQL in it', { ...passkeyAssertion, response: { ...passkeyAssertion.response, clientDataJSON: "' OR 1=1 --" } }],
      [
        'no authenticatorData',
        { ...passkeyAssertion, response: { clientDataJSON: passkeyAssertion.response.clientDataJSON, signature: passkeyAssertion.response.signature } },
      ],
    ];
    for (const [label, credential] of spoiled) {
      add({
        category: 'wrong types, arrays, nested objects',
        name: `/auth/passkey/login credential with ${label}`,
        method: 'POST',
        path: '/auth/passkey/login',
        body: { credential },
        expect: [400],
        error: 'validation_failed',
      });
    }
    for (const [label, transports] of [
      ['a string', 'usb'],
      ['an array of objects', [{}]],
      ['a long array', Array(20).fill('usb')],
    ] as const) {
      const credential = { ...passkeyRegistration, response: { ...passkeyRegistration.response, transports } };
      add({
        category: 'wrong types, arrays, nested objects',
        name: `/me/factors/passkey transports as ${label}`,
        method: 'POST',
        path: '/me/factors/passkey',
        as: 'user',
        body: { credential },
        expect: [400],
        error: 'validation_failed',
      });
    }

    // ---------- whole bodies of the wrong shape ----------
    const shapes: Array<[string, string]> = [
      ['a JSON array', '[1,2,3]'],
      ['an array of objects', `[{"email":"${user.email}","password":"${PASSWORD}"}]`],
      ['a JSON string', '"hello"'],
      ['a JSON number', '12345'],
      ['JSON null', 'null'],
      ['JSON true', 'true'],
      ['deeply nested', '{"a":'.repeat(2000) + '1' + '}'.repeat(2000)],
      ['malformed JSON', '{"email": "x@example.com", "password": '],
      ['a trailing comma', `{"email":"${user.email}","password":"${PASSWORD}",}`],
      ['a NUL byte between tokens', `{"email":"${user.email}",\u0000"password":"${PASSWORD}"}`],
      ['an empty body', ''],
      ['Infinity via 1e999', '{"email":1e999,"password":1e999}'],
      ['a field nested 5000 deep', `{"email":${'['.repeat(5000)}${']'.repeat(5000)},"password":"x"}`],
    ];
    const jsonRoutes: Array<{ path: string; as?: Who; error?: string; emptyOk?: number[] }> = [
      { path: '/auth/register' },
      { path: '/auth/login' },
      { path: '/me/password', as: 'user' },
      { path: '/auth/token', error: 'invalid_request' },
      { path: '/auth/revoke', error: 'invalid_request' },
      { path: '/auth/password/forgot' },
      { path: '/auth/password/reset' },
      { path: '/auth/email/verify' },
      { path: '/auth/sessions/report' },
      { path: '/me/email', as: 'user' },
      { path: '/auth/email/confirm' },
      { path: '/auth/email/revert' },
    ];
    /** Each raw body POSTed to every JSON route, refused with 400 and the route's error code (or `error`). */
    const addAtEveryJsonRoute = (category: string, bodies: Array<[label: string, raw: string]>, error?: string) => {
      for (const r of jsonRoutes) {
        for (const [label, raw] of bodies)
          add({ category, name: `${r.path} with ${label}`, method: 'POST', path: r.path, as: r.as, raw, expect: [400], error: r.error ?? error });
      }
    };
    addAtEveryJsonRoute('arrays and nested objects as bodies', shapes);

    // ---------- huge strings ----------
    const huge: Array<[string, string, Record<string, unknown>, number[], Who?]> = [
      ['register e-mail of 10 KB', '/auth/register', { email: 'a'.repeat(10_000) + '@example.com', password: PASSWORD }, [400]],
      ['register password of 129 characters', '/auth/register', { email: other, password: 'p'.repeat(129) }, [400]],
      ['register password of 128 emoji (256 UTF-16 units) plus one', '/auth/register', { email: other, password: '😀'.repeat(129) }, [400]],
      ['register password of 60 KB', '/auth/register', { email: other, password: 'p'.repeat(60_000) }, [400]],
      ['register name of 60 KB', '/auth/register', { email: other, password: PASSWORD, name: 'n'.repeat(60_000) }, [400]],
      ['register name of 201 characters', '/auth/register', { email: other, password: PASSWORD, name: 'n'.repeat(201) }, [400]],
      ['login password of 60 KB', '/auth/login', { email: user.email, password: 'p'.repeat(60_000) }, [400]],
      ['login password of 257 characters', '/auth/login', { email: user.email, password: 'p'.repeat(257) }, [400]],
      ['login e-mail of 60 KB', '/auth/login', { email: 'e'.repeat(60_000), password: PASSWORD }, [400]],
      ['login deviceId of 1000 characters', '/auth/login', { email: user.email, password: PASSWORD, deviceId: 'd'.repeat(1000) }, [400]],
      ['login deviceName of 5000 characters', '/auth/login', { email: user.email, password: PASSWORD, deviceName: 'n'.repeat(5000) }, [400]],
      ['login body over 64 KiB', '/auth/login', { email: user.email, password: 'p'.repeat(70_000) }, [413]],
      ['register body of 1 MiB', '/auth/register', { email: other, password: PASSWORD, name: 'n'.repeat(1 << 20) }, [413]],
      ['refresh token of 60 KB', '/auth/token', { grant_type: 'refresh_token', refresh_token: 'r'.repeat(60_000) }, [400]],
      ['revoke token of 60 KB', '/auth/revoke', { token: 't'.repeat(60_000) }, [200]],
      ['new password of 60 KB', '/me/password', { currentPassword: PASSWORD, newPassword: 'p'.repeat(60_000) }, [400], 'user'],
      ['current password of 60 KB', '/me/password', { currentPassword: 'p'.repeat(60_000), newPassword: 'a new password' }, [400], 'user'],
      ['grant_type of 60 KB', '/auth/token', { grant_type: 'g'.repeat(60_000), refresh_token: 'x' }, [400]],
      ['10 000 unknown fields', '/auth/login', Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`f${i}`, i])), [400]],
      ['forgot e-mail of 60 KB', '/auth/password/forgot', { email: 'e'.repeat(60_000) }, [400]],
      ['reset token of 60 KB', '/auth/password/reset', { token: 't'.repeat(60_000), newPassword: 'a new password' }, [400]],
      ['reset token of 257 characters', '/auth/password/reset', { token: 't'.repeat(257), newPassword: 'a new password' }, [400]],
      ['reset password of 60 KB', '/auth/password/reset', { token: linkToken, newPassword: 'p'.repeat(60_000) }, [400]],
      ['reset password of 129 characters', '/auth/password/reset', { token: linkToken, newPassword: 'p'.repeat(129) }, [400]],
      ['verification token of 60 KB', '/auth/email/verify', { token: 't'.repeat(60_000) }, [400]],
      ['report token of 60 KB', '/auth/sessions/report', { token: 't'.repeat(60_000) }, [400]],
      ['new e-mail of 60 KB', '/me/email', { newEmail: 'e'.repeat(60_000) + '@example.com', password: PASSWORD }, [400], 'user'],
      ['e-mail change password of 60 KB', '/me/email', { newEmail: other, password: 'p'.repeat(60_000) }, [400], 'user'],
      ['e-mail change confirmation token of 60 KB', '/auth/email/confirm', { token: 't'.repeat(60_000) }, [400]],
      ['e-mail change revert token of 60 KB', '/auth/email/revert', { token: 't'.repeat(60_000) }, [400]],
    ];
    for (const [name, path, body, expect, as] of huge) add({ category: 'huge strings', name, method: 'POST', path, body, expect, as });

    // ---------- unicode edge cases ----------
    const unicode: Array<[string, string]> = [
      ['a lone high surrogate', '\ud800'],
      ['a lone low surrogate', '\udfff'],
      ['reversed surrogates', '\udc00\ud800'],
      ['a NUL', '\u0000'],
      ['C0 controls', '\u0001\u0007\u001b[31m'],
      ['an RTL override', '\u202egpj.exe'],
      ['zero-width characters', '\u200b\u200c\u200d\ufeff'],
      ['combining marks', 'e\u0301\u0301\u0301\u0301\u0301\u0301'],
      ['a BOM', '\ufeff'],
      ['non-characters', '\uffff\ufffe'],
      ['a line separator', '\u2028\u2029'],
    ];
    for (const [label, s] of unicode) {
      // Combining marks are letters of real (internationalised) addresses; everything else here
      // is invisible, a control, a separator or not a character at all.
      if (!label.includes('combining'))
        add({
          category: 'unicode edge cases',
          name: `register e-mail with ${label}`,
          method: 'POST',
          path: '/auth/register',
          body: { email: `a${s}b@example.com`, password: PASSWORD },
          expect: [400],
          error: 'validation_failed',
        });
      const logins = [
        { field: 'e-mail', body: { email: `${user.email[0]}${s}${user.email.slice(1)}`, password: PASSWORD } },
        { field: 'password', body: { email: user.email, password: `${PASSWORD}${s}` } },
      ];
      for (const { field, body } of logins) {
        add({ category: 'unicode edge cases', name: `login ${field} with ${label}`, method: 'POST', path: '/auth/login', body, expect: [400, 401] });
      }
      add({
        category: 'unicode edge cases',
        name: `refresh token with ${label}`,
        method: 'POST',
        path: '/auth/token',
        body: { grant_type: 'refresh_token', refresh_token: `${userTokens.refresh_token}${s}` },
        expect: [400],
        error: 'invalid_grant',
      });
    }
    // Names may be in any script (RTL marks and ZWJ emoji are legitimate); only an address that
    // is taken keeps these from creating an account, and that must be a clean 409.
    for (const [label, s] of unicode.filter(([l]) => !/surrogate|NUL|C0/.test(l))) {
      add({
        category: 'unicode edge cases',
        name: `register taken e-mail, name with ${label}`,
        method: 'POST',
        path: '/auth/register',
        body: { email: user.email, password: PASSWORD, name: `n${s}` },
        expect: [409],
        error: 'email_taken',
      });
    }
    for (const [label, s] of unicode.filter(([l]) => /surrogate|NUL|C0/.test(l))) {
      add({
        category: 'unicode edge cases',
        name: `register name with ${label}`,
        method: 'POST',
        path: '/auth/register',
        body: { email: other, password: PASSWORD, name: `n${s}` },
        expect: [400],
      });
    }
    // Invalid UTF-8 on the wire.
    add({
      category: 'unicode edge cases',
      name: 'login body with invalid UTF-8 bytes',
      method: 'POST',
      path: '/auth/login',
      raw: Buffer.concat([Buffer.from(`{"email":"${user.email}","password":"`), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')]),
      expect: [400, 401],
    });
    add({
      category: 'unicode edge cases',
      name: 'register body with an overlong UTF-8 NUL',
      method: 'POST',
      path: '/auth/register',
      raw: Buffer.concat([Buffer.from(`{"email":"x`), Buffer.from([0xc0, 0x80]), Buffer.from(`@example.com","password":"${PASSWORD}"}`)]),
      expect: [400],
    });
    add({
      category: 'unicode edge cases',
      name: 'JSON declared as UTF-16',
      method: 'POST',
      path: '/auth/login',
      raw: Buffer.from(JSON.stringify({ email: user.email, password: 'x' }), 'utf16le'),
      contentType: 'application/json; charset=utf-16',
      expect: [400, 415],
    });

    // ---------- SQL-looking strings ----------
    const sqlish = [
      `' OR '1'='1`,
      `admin@example.com' --`,
      `"; DROP TABLE users; --`,
      `' UNION SELECT password_hash FROM users --`,
      `1; UPDATE users SET role='admin'`,
      `\\'; SELECT SLEEP(5); --`,
    ];
    for (const s of sqlish) {
      const logins = [
        { field: 'e-mail', body: { email: s, password: PASSWORD } },
        { field: 'password', body: { email: user.email, password: s } },
      ];
      for (const { field, body } of logins) {
        add({
          category: 'SQL-looking strings',
          name: `login ${field} ${s}`,
          method: 'POST',
          path: '/auth/login',
          body,
          expect: [401],
          error: 'invalid_credentials',
        });
      }
      add({
        category: 'SQL-looking strings',
        name: `register e-mail ${s}`,
        method: 'POST',
        path: '/auth/register',
        body: { email: s, password: PASSWORD },
        expect: [400],
      });
      add({
        category: 'SQL-looking strings',
        name: `refresh token ${s}`,
        method: 'POST',
        path: '/auth/token',
        body: { grant_type: 'refresh_token', refresh_token: s },
        expect: [400],
        error: 'invalid_grant',
      });
      add({
        category: 'SQL-looking strings',
        name: `session id ${s}`,
        method: 'DELETE',
        path: `/me/sessions/${encodeURIComponent(s)}`,
        as: 'user',
        expect: [400],
        error: 'validation_failed',
      });
      add({
        category: 'SQL-looking strings',
        name: `admin events type ${s}`,
        method: 'GET',
        path: `/admin/events?type=${encodeURIComponent(s)}`,
        as: 'admin',
        expect: [400],
        error: 'validation_failed',
      });
    }

    // ---------- mailed-link tokens that are not links ----------
    const [linkId, linkMac] = linkToken.split('.');
    // Malformed strings stop at validation; well-formed ones that are no link get invalid_link.
    const notLinks: Array<[string, string, string]> = [
      ['an empty string', '', 'validation_failed'],
      ['an access token (over 256 characters)', userTokens.access_token, 'validation_failed'],
      ['a NUL inside', `${linkId}\u0000.${linkMac}`, 'validation_failed'],
      ['a lone surrogate', `${linkId}.\ud800${linkMac.slice(1)}`, 'validation_failed'],
      ['a bare UUID', linkId, 'invalid_link'],
      ['a refresh token', userTokens.refresh_token, 'invalid_link'],
      ['a MAC with one character changed', `${linkId}.${linkMac.slice(0, -1)}${linkMac.endsWith('A') ? 'B' : 'A'}`, 'invalid_link'],
      ['an uppercase id', `${linkId.toUpperCase()}.${linkMac}`, 'invalid_link'],
      ['a padded MAC', `${linkToken}=`, 'invalid_link'],
      ['surrounding spaces', ` ${linkToken} `, 'invalid_link'],
      ...sqlish.map((q): [string, string, string] => [`SQL ${q}`, q, 'invalid_link']),
    ];
    for (const [label, token, error] of notLinks) {
      add({
        category: 'mailed-link tokens',
        name: `reset with ${label}`,
        method: 'POST',
        path: '/auth/password/reset',
        body: { token, newPassword: 'a new password' },
        expect: [400],
        error,
      });
      add({ category: 'mailed-link tokens', name: `verify with ${label}`, method: 'POST', path: '/auth/email/verify', body: { token }, expect: [400], error });
      add({
        category: 'mailed-link tokens',
        name: `report with ${label}`,
        method: 'POST',
        path: '/auth/sessions/report',
        body: { token },
        expect: [400],
        error,
      });
      add({
        category: 'mailed-link tokens',
        name: `e-mail confirmation with ${label}`,
        method: 'POST',
        path: '/auth/email/confirm',
        body: { token },
        expect: [400],
        error,
      });
      add({
        category: 'mailed-link tokens',
        name: `e-mail revert with ${label}`,
        method: 'POST',
        path: '/auth/email/revert',
        body: { token },
        expect: [400],
        error,
      });
    }
    // A real link of one purpose is no link of another.
    add({
      category: 'mailed-link tokens',
      name: 'a reset link used to verify',
      method: 'POST',
      path: '/auth/email/verify',
      body: { token: linkToken },
      expect: [400],
      error: 'invalid_link',
    });
    add({
      category: 'mailed-link tokens',
      name: 'a reset link used to report',
      method: 'POST',
      path: '/auth/sessions/report',
      body: { token: linkToken },
      expect: [400],
      error: 'invalid_link',
    });
    add({
      category: 'mailed-link tokens',
      name: 'a reset link used to confirm an e-mail change',
      method: 'POST',
      path: '/auth/email/confirm',
      body: { token: linkToken },
      expect: [400],
      error: 'invalid_link',
    });
    add({
      category: 'mailed-link tokens',
      name: 'a reset link used to revert an e-mail change',
      method: 'POST',
      path: '/auth/email/revert',
      body: { token: linkToken },
      expect: [400],
      error: 'invalid_link',
    });
    add({
      category: 'mailed-link tokens',
      name: 'an e-mail change without a token',
      method: 'POST',
      path: '/me/email',
      body: { newEmail: other, password: PASSWORD },
      expect: [401],
      error: 'invalid_token',
    });
    add({
      category: 'mailed-link tokens',
      name: 'a verification request without a token',
      method: 'POST',
      path: '/me/email/verification',
      expect: [401],
      error: 'invalid_token',
    });
    add({
      category: 'wrong content types',
      name: 'a verification request with a text/plain body',
      method: 'POST',
      path: '/me/email/verification',
      as: 'user',
      raw: 'x',
      contentType: 'text/plain',
      expect: [415],
      error: 'unsupported_media_type',
    });
    add({
      category: 'bad path ids',
      name: 'a user sends a reset as admin',
      method: 'POST',
      path: `/admin/users/${userId}/password-reset`,
      as: 'user',
      expect: [403],
      error: 'forbidden',
    });

    // ---------- prototype pollution keys ----------
    const pollution: Array<[string, string]> = [
      ['__proto__', `{"__proto__":{"role":"admin","isAdmin":true},"email":"${other}","password":"${PASSWORD}"}`],
      ['constructor.prototype', `{"constructor":{"prototype":{"role":"admin"}},"email":"${other}","password":"${PASSWORD}"}`],
      ['nested __proto__', `{"email":{"__proto__":{"x":1}},"password":"${PASSWORD}"}`],
      ['prototype', `{"prototype":{"role":"admin"},"email":"${other}","password":"${PASSWORD}"}`],
    ];
    addAtEveryJsonRoute('prototype pollution keys', pollution, 'validation_failed');
    add({
      category: 'prototype pollution keys',
      name: 'form __proto__ on /auth/token',
      method: 'POST',
      path: '/auth/token',
      raw: '__proto__[role]=admin&grant_type=refresh_token',
      contentType: 'application/x-www-form-urlencoded',
      expect: [400],
      error: 'invalid_request',
    });
    add({
      category: 'prototype pollution keys',
      name: 'form __proto__ key on /auth/revoke',
      method: 'POST',
      path: '/auth/revoke',
      raw: '__proto__=x&token=y',
      contentType: 'application/x-www-form-urlencoded',
      expect: [400],
      error: 'invalid_request',
    });
    add({
      category: 'prototype pollution keys',
      name: 'form constructor on /auth/token',
      method: 'POST',
      path: '/auth/token',
      raw: 'constructor=x&grant_type=refresh_token&refresh_token=y',
      contentType: 'application/x-www-form-urlencoded',
      expect: [400],
      error: 'invalid_request',
    });
    const queryRoutes = [
      { method: 'GET', path: '/admin/users', as: 'admin' },
      { method: 'POST', path: '/auth/logout', as: 'user' },
    ] as const;
    for (const q of ['__proto__=x', '__proto__[role]=admin', 'constructor=x', 'constructor[prototype][role]=admin']) {
      for (const { method, path, as } of queryRoutes) {
        add({ category: 'prototype pollution keys', name: `${path}?${q}`, method, path: `${path}?${q}`, as, expect: [400], error: 'validation_failed' });
      }
    }

    // ---------- wrong content types ----------
    const types = [
      'text/plain',
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      'text/html',
      'application/javascript',
      'image/png',
      'application/json-patch+json',
      'application/x-www-form-urlencoded',
      'Application/X-WWW-Form-Urlencoded',
      'APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8',
      ' application/x-www-form-urlencoded',
    ];
    for (const type of types) {
      for (const r of [
        { path: '/auth/register' },
        { path: '/auth/login' },
        { path: '/me/password', as: 'user' as Who },
        { path: '/auth/password/forgot' },
        { path: '/auth/password/reset' },
      ]) {
        const raw = type.includes('urlencoded') ? `email=${encodeURIComponent(user.email)}&password=x` : `{"email":"${user.email}","password":"x"}`;
        add({
          category: 'wrong content types',
          name: `${r.path} as ${type}`,
          method: 'POST',
          path: r.path,
          as: r.as,
          raw,
          contentType: type,
          expect: [415],
          error: 'unsupported_media_type',
        });
      }
    }
    // Media types are case-insensitive: a form body with the right password, in any spelling, is refused before it is read.
    for (const type of ['Application/X-WWW-Form-Urlencoded', 'application/X-WWW-form-urlencoded;charset=utf-8']) {
      add({
        category: 'wrong content types',
        name: `a correct login as ${type}`,
        method: 'POST',
        path: '/auth/login',
        raw: `email=${encodeURIComponent(user.email)}&password=${encodeURIComponent(PASSWORD)}`,
        contentType: type,
        expect: [415],
        error: 'unsupported_media_type',
      });
    }
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      add({
        category: 'wrong content types',
        name: `/auth/token as ${type}`,
        method: 'POST',
        path: '/auth/token',
        raw: 'grant_type=refresh_token&refresh_token=x',
        contentType: type,
        expect: [415],
        error: 'unsupported_media_type',
      });
      add({
        category: 'wrong content types',
        name: `/auth/revoke as ${type}`,
        method: 'POST',
        path: '/auth/revoke',
        raw: 'token=x',
        contentType: type,
        expect: [415],
        error: 'unsupported_media_type',
      });
      const bodilessRoutes = [
        { label: '/auth/logout', path: '/auth/logout', as: 'user' },
        { label: 'admin disable', path: `/admin/users/${userId}/disable`, as: 'admin' },
      ] as const;
      for (const { label, path, as } of bodilessRoutes) {
        add({
          category: 'wrong content types',
          name: `${label} with a ${type} body`,
          method: 'POST',
          path,
          as,
          raw: 'x',
          contentType: type,
          expect: [415],
          error: 'unsupported_media_type',
        });
      }
    }
    add({
      category: 'wrong content types',
      name: 'JSON body without a content type',
      method: 'POST',
      path: '/auth/login',
      wire: `POST /auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{"email":"a@example.com","password":"x"}`,
      expect: [400, 415],
    });
    add({
      category: 'wrong content types',
      name: 'a garbage content type',
      method: 'POST',
      path: '/auth/login',
      raw: '{}',
      contentType: '}}}{{{',
      expect: [400, 415],
    });
    add({
      category: 'wrong content types',
      name: 'Content-Length larger than the body',
      method: 'POST',
      path: '/auth/login',
      wire: `POST /auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"email":"a@example.com","password":"x"}`,
      expect: [400],
    });
    add({
      category: 'wrong content types',
      name: 'Content-Length and Transfer-Encoding together (smuggling)',
      method: 'POST',
      path: '/auth/login',
      wire: `POST /auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /me HTTP/1.1\r\nHost: x\r\n\r\n`,
      expect: [400],
    });

    // ---------- duplicate JSON keys ----------
    const dups: Array<[string, string, Who?, string?]> = [
      ['/auth/login', `{"email":"${user.email}","password":"wrong password","password":"${PASSWORD}"}`],
      ['/auth/login', `{"email":"${other}","email":"${user.email}","password":"${PASSWORD}"}`],
      ['/auth/login', `{"email":"${user.email}","password":"${PASSWORD}","useCookie":false,"useCookie":true}`],
      ['/auth/register', `{"email":"${other}","password":"${PASSWORD}","email":"${uniqueEmail('dup')}"}`],
      ['/auth/register', `{"email":"${other}","password":"${PASSWORD}","name":"a","name":"b"}`],
      ['/auth/register', `{"email":"${other}","password":"${PASSWORD}","\\u0065mail":"${uniqueEmail('dup')}"}`],
      ['/me/password', `{"currentPassword":"${PASSWORD}","newPassword":"one new password","newPassword":"another password"}`, 'user'],
      [
        '/auth/token',
        `{"grant_type":"refresh_token","grant_type":"refresh_token","refresh_token":"${userTokens.refresh_token}"}`,
        undefined,
        'invalid_request',
      ],
      ['/auth/token', `{"grant_type":"refresh_token","refresh_token":"x","refresh_token":"${userTokens.refresh_token}"}`, undefined, 'invalid_request'],
      ['/auth/revoke', `{"token":"x","token":"${userTokens.refresh_token}"}`, undefined, 'invalid_request'],
      ['/auth/password/forgot', `{"email":"${other}","email":"${user.email}"}`],
      ['/auth/password/reset', `{"token":"x","token":"${linkToken}","newPassword":"a new password"}`],
      ['/auth/email/verify', `{"token":"x","token":"${linkToken}"}`],
    ];
    for (const [path, raw, as, error] of dups)
      add({
        category: 'duplicate JSON keys',
        name: `${path} ${raw.slice(0, 70)}`,
        method: 'POST',
        path,
        raw,
        as,
        expect: [400],
        error: error ?? 'validation_failed',
      });
    add({
      category: 'duplicate JSON keys',
      name: 'form grant_type twice',
      method: 'POST',
      path: '/auth/token',
      raw: `grant_type=refresh_token&grant_type=refresh_token&refresh_token=${userTokens.refresh_token}`,
      contentType: 'application/x-www-form-urlencoded',
      expect: [400],
      error: 'invalid_request',
    });
    add({
      category: 'duplicate JSON keys',
      name: 'form token twice',
      method: 'POST',
      path: '/auth/revoke',
      raw: `token=x&token=${userTokens.refresh_token}`,
      contentType: 'application/x-www-form-urlencoded',
      expect: [400],
      error: 'invalid_request',
    });
    add({
      category: 'duplicate JSON keys',
      name: 'scope twice in the query',
      method: 'POST',
      path: '/auth/logout?scope=local&scope=global',
      as: 'user',
      expect: [400],
      error: 'validation_failed',
    });
    add({
      category: 'duplicate JSON keys',
      name: 'limit twice in the query',
      method: 'GET',
      path: '/admin/users?limit=1&limit=2',
      as: 'admin',
      expect: [400],
      error: 'validation_failed',
    });

    // ---------- bad path ids, on every route with one ----------
    const badIds = [
      'abc',
      '1',
      '-1',
      '0',
      'null',
      'undefined',
      '00000000-0000-0000-0000-00000000000g',
      missing.toUpperCase(),
      `{${missing}}`,
      `${missing}x`,
      `${missing}%00`,
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '%F0%9F%98%80',
      '%C0%AE',
      '%E2%80%AE',
      `${missing}%20OR%201%3D1`,
    ];
    const idRoutes: Array<[string, (id: string) => string, Who]> = [
      ['DELETE', (id) => `/me/sessions/${id}`, 'user'],
      ['GET', (id) => `/admin/users/${id}`, 'admin'],
      ['GET', (id) => `/admin/users/${id}/sessions`, 'admin'],
      ['DELETE', (id) => `/admin/users/${id}/sessions`, 'admin'],
      ['DELETE', (id) => `/admin/sessions/${id}`, 'admin'],
      ['POST', (id) => `/admin/users/${id}/disable`, 'admin'],
      ['POST', (id) => `/admin/users/${id}/enable`, 'admin'],
      ['POST', (id) => `/admin/users/${id}/password-reset`, 'admin'],
      ['DELETE', (id) => `/admin/users/${id}`, 'admin'],
      ['DELETE', (id) => `/admin/resource-servers/${id}`, 'admin'],
    ];
    for (const [method, path, as] of idRoutes) {
      for (const id of badIds)
        add({ category: 'bad path ids', name: `${method} ${path(id)}`, method, path: path(id), as, expect: [400], error: 'validation_failed' });
      add({
        category: 'bad path ids',
        name: `${method} ${path(missing)} (well-formed, absent)`,
        method,
        path: path(missing),
        as,
        expect: [404],
        error: 'not_found',
      });
      add({
        category: 'bad path ids',
        name: `${method} ${path('x'.repeat(500))} (over the parameter length)`,
        method,
        path: path('x'.repeat(500)),
        as,
        expect: [400, 404, 414],
      });
    }
    // Account deletion: a body that is not a password string deletes nothing.
    for (const [name, body] of [
      ['a numeric password', { password: 12345678 }],
      ['an unknown field', { password: PASSWORD, alsoDelete: 'everyone' }],
      ['a password of 60 KB', { password: 'p'.repeat(60_000) }],
      ['a password array', { password: [PASSWORD] }],
    ] as const) {
      add({
        category: 'wrong types, arrays, nested objects',
        name: `DELETE /me with ${name}`,
        method: 'DELETE',
        path: '/me',
        body,
        as: 'user',
        expect: [400],
        error: 'validation_failed',
      });
    }
    add({
      category: 'bad path ids',
      name: "another user's session",
      method: 'DELETE',
      path: `/me/sessions/${adminTokens.session_id}`,
      as: 'user',
      expect: [404],
      error: 'not_found',
    });

    // ---------- query parameters: ranges, enums, formats ----------
    const queries: Array<[string, string]> = [
      ['/admin/users', 'limit=0'],
      ['/admin/users', 'limit=101'],
      ['/admin/users', 'limit=-1'],
      ['/admin/users', 'limit=1.5'],
      ['/admin/users', 'limit=1e2'],
      ['/admin/users', 'limit=abc'],
      ['/admin/users', 'limit=99999999999999999999'],
      ['/admin/users', 'limit='],
      ['/admin/users', `q=${'q'.repeat(300)}`],
      ['/admin/users', 'cursor=***'],
      ['/admin/users', 'cursor=AAAA'],
      ['/admin/users', `cursor=${b64('[1,"x"]')}`],
      ['/admin/users', `cursor=${b64('{"__proto__":1}')}`],
      ['/admin/users', 'unknown=1'],
      ['/admin/events', 'type=login'],
      ['/admin/events', 'userId=abc'],
      ['/admin/events', 'limit=0'],
      ['/admin/events', 'limit=1000'],
      ['/admin/events', `cursor=${b64([-1, missing])}`],
      ['/admin/events', `cursor=${b64([1e300, missing])}`],
      ['/admin/events/hourly', ''],
      ['/admin/events/hourly', 'from=1&to=2'],
      ['/admin/events/hourly', 'from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z'],
      ['/admin/events/hourly', 'from=2026-01-01T01:00:00Z&to=2026-01-01T00:00:00Z'],
      ['/admin/events/hourly', `from=${encodeURIComponent("2026-01-01T00:00:00Z' OR '1'='1")}&to=2026-01-01T01:00:00Z`],
      ['/admin/events/hourly', 'from=+275760-09-13T00:00:00Z&to=+275760-09-13T01:00:00Z'],
      ['/admin/events/hourly', 'from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&type=login'],
      ['/admin/events/hourly', 'from=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z'],
      [`/admin/users/${userId}/sessions`, 'include=all'],
      [`/admin/users/${userId}/sessions`, 'include=revoked&include=revoked'],
    ];
    for (const [path, q] of queries)
      add({
        category: 'query ranges, enums and formats',
        name: `${path}?${q.slice(0, 60)}`,
        method: 'GET',
        path: `${path}?${q}`,
        as: 'admin',
        expect: [400],
        error: 'validation_failed',
      });
    for (const q of ['scope=all', 'scope=LOCAL', 'scope=', 'scope[]=local', 'unknown=1']) {
      add({
        category: 'query ranges, enums and formats',
        name: `/auth/logout?${q}`,
        method: 'POST',
        path: `/auth/logout?${q}`,
        as: 'user',
        expect: [400],
        error: 'validation_failed',
      });
    }

    // ---------- the resource-server routes: credentials, bodies, cursors ----------
    const asServer = { authorization: rsBasic };
    const credentialCases: Array<[string, Record<string, string>]> = [
      ['no credentials', {}],
      ['a wrong secret', { authorization: basicAuth(missing, 'lkrs_wrong') }],
      ["a removed server's secret", { authorization: removedBasic }],
      ["a user's bearer token", { authorization: `Bearer ${userTokens.access_token}` }],
      ['Basic with garbage', { authorization: 'Basic %%%%' }],
      ['Basic without a colon', { authorization: `Basic ${b64('nocolon')}` }],
      ['Basic with a 10 KB secret', { authorization: basicAuth(missing, 'x'.repeat(10_000)) }],
    ];
    for (const [label, headers] of credentialCases) {
      add({
        category: 'resource-server credentials',
        name: `POST /auth/introspect with ${label}`,
        method: 'POST',
        path: '/auth/introspect',
        body: { token: userTokens.access_token },
        headers,
        expect: [401],
        error: 'invalid_client',
      });
      add({
        category: 'resource-server credentials',
        name: `GET /auth/revocations with ${label}`,
        method: 'GET',
        path: '/auth/revocations',
        headers,
        expect: [401],
        error: 'invalid_client',
      });
    }
    for (const [label, value] of wrongTypes) {
      add({
        category: label === 'null' ? 'nulls' : 'wrong types, arrays, nested objects',
        name: `/auth/introspect token as ${label}`,
        method: 'POST',
        path: '/auth/introspect',
        body: { token: value },
        headers: asServer,
        expect: [400],
        error: 'invalid_request',
      });
      add({
        category: label === 'null' ? 'nulls' : 'wrong types, arrays, nested objects',
        name: `/admin/resource-servers name as ${label}`,
        method: 'POST',
        path: '/admin/resource-servers',
        body: { name: value },
        as: 'admin',
        expect: [400],
        error: 'validation_failed',
      });
    }
    for (const [label, body] of [
      ['no token', {}],
      ['an unknown parameter', { token: 'x', client_id: 'y', extra: 1 }],
      ['an empty token', { token: '' }],
    ] as const) {
      add({
        category: 'resource-server bodies',
        name: `/auth/introspect with ${label}`,
        method: 'POST',
        path: '/auth/introspect',
        body,
        headers: asServer,
        expect: [400],
        error: 'invalid_request',
      });
    }
    add({
      category: 'duplicate JSON keys',
      name: 'form token twice on introspect',
      method: 'POST',
      path: '/auth/introspect',
      raw: `token=x&token=${userTokens.access_token}`,
      contentType: 'application/x-www-form-urlencoded',
      headers: asServer,
      expect: [400],
      error: 'invalid_request',
    });
    for (const [label, body] of [
      ['an empty name', { name: '' }],
      ['a 101-character name', { name: 'n'.repeat(101) }],
      ['a name with a newline', { name: 'a\nb' }],
      ['an unknown field', { name: 'ok', secret: 'mine' }],
      ['no name', {}],
    ] as const) {
      add({
        category: 'resource-server bodies',
        name: `/admin/resource-servers with ${label}`,
        method: 'POST',
        path: '/admin/resource-servers',
        body,
        as: 'admin',
        expect: [400],
        error: 'validation_failed',
      });
    }
    add({
      category: 'resource-server bodies',
      name: 'a user adds a resource server',
      method: 'POST',
      path: '/admin/resource-servers',
      body: { name: 'mine' },
      as: 'user',
      expect: [403],
      error: 'forbidden',
    });
    const feedQueries = [
      'after=',
      'after=***',
      `after=${'A'.repeat(65)}`,
      `after=${b64('x.1').slice(0, -1)}`,
      `after=${b64('epoch.01')}`,
      'after=a&after=b',
      'wait=31',
      'wait=-1',
      'wait=1e9',
      'wait=99999999999999999999',
      'wait=abc',
      'limit=0',
      'limit=1001',
      'limit=1.5',
      'limit=abc',
      'unknown=1',
    ];
    for (const q of feedQueries) {
      add({
        category: 'query ranges, enums and formats',
        name: `/auth/revocations?${q.slice(0, 60)}`,
        method: 'GET',
        path: `/auth/revocations?${q}`,
        headers: asServer,
        expect: [400],
        error: 'invalid_request',
      });
    }

    // ---------- second factors: the second step, enrolment, step-up, admin ----------
    const mfaFields: Array<{ method: string; path: string; as?: Who; base: Record<string, unknown>; field: string; skip?: (v: unknown) => boolean }> = [
      { method: 'POST', path: '/auth/mfa/verify', base: { mfaToken: 'x'.repeat(20), method: 'totp', code: '123456' }, field: 'mfaToken' },
      { method: 'POST', path: '/auth/mfa/verify', base: { mfaToken: 'x'.repeat(20), method: 'totp', code: '123456' }, field: 'method' },
      { method: 'POST', path: '/auth/mfa/verify', base: { mfaToken: 'x'.repeat(20), method: 'totp', code: '123456' }, field: 'code' },
      {
        method: 'POST',
        path: '/auth/mfa/verify',
        base: { mfaToken: 'x'.repeat(20), method: 'passkey' },
        field: 'credential',
        skip: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      },
      {
        method: 'POST',
        path: '/auth/mfa/verify',
        base: { mfaToken: 'x'.repeat(20), method: 'totp', code: '123456' },
        field: 'trustDevice',
        skip: (v) => typeof v === 'boolean',
      },
      { method: 'PUT', path: '/me/password', as: 'user', base: { currentPassword: PASSWORD, newPassword: 'a new password' }, field: 'currentPassword' },
      { method: 'PUT', path: '/me/password', as: 'user', base: { currentPassword: PASSWORD, newPassword: 'a new password' }, field: 'newPassword' },
      { method: 'POST', path: '/me/factors/totp', as: 'user', base: { name: 'Phone' }, field: 'name' },
      { method: 'POST', path: `/me/factors/${missing}/verify`, as: 'user', base: { code: '123456' }, field: 'code' },
      { method: 'PATCH', path: `/me/factors/${missing}`, as: 'user', base: { name: 'Phone' }, field: 'name' },
      { method: 'POST', path: '/me/step-up', as: 'user', base: { method: 'totp', code: '123456' }, field: 'method' },
      { method: 'POST', path: '/me/step-up', as: 'user', base: { method: 'totp', code: '123456' }, field: 'code' },
      { method: 'POST', path: '/me/step-up', as: 'user', base: { method: 'password', password: PASSWORD }, field: 'password' },
      {
        method: 'POST',
        path: '/me/step-up',
        as: 'user',
        base: { method: 'passkey' },
        field: 'credential',
        skip: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      },
    ];
    for (const f of mfaFields) {
      for (const [label, value] of wrongTypes) {
        if (f.skip?.(value)) continue;
        add({
          category: label === 'null' ? 'nulls' : 'wrong types, arrays, nested objects',
          name: `${f.method} ${f.path} ${f.field} as ${label}`,
          method: f.method,
          path: f.path,
          as: f.as,
          body: { ...f.base, [f.field]: value },
          expect: [400],
          error: 'validation_failed',
        });
      }
      add({
        category: 'second factors',
        name: `${f.method} ${f.path} ${f.field} of 10 000 characters`,
        method: f.method,
        path: f.path,
        as: f.as,
        body: { ...f.base, [f.field]: 'x'.repeat(10_000) },
        expect: [400],
        error: 'validation_failed',
      });
      add({
        category: 'second factors',
        name: `${f.method} ${f.path} with an unknown field`,
        method: f.method,
        path: f.path,
        as: f.as,
        body: { ...f.base, admin: true },
        expect: [400],
        error: 'validation_failed',
      });
      for (const [label, raw] of shapes) {
        // Every field of this body is optional: JSON null is an empty body there (validation.ts), a valid request.
        if (f.path === '/me/factors/totp' && label === 'JSON null') continue;
        add({
          category: 'arrays and nested objects as bodies',
          name: `${f.method} ${f.path} with ${label}`,
          method: f.method,
          path: f.path,
          as: f.as,
          raw,
          expect: [400],
        });
      }
    }
    // Well-formed but wrong: nothing is there, nothing changes.
    add({
      category: 'second factors',
      name: 'an unknown mfaToken',
      method: 'POST',
      path: '/auth/mfa/verify',
      body: { mfaToken: `${missing}.${'A'.repeat(43)}`, method: 'totp', code: '123456' },
      expect: [401],
      error: 'invalid_mfa_token',
    });
    add({
      category: 'second factors',
      name: 'a refresh token as the mfaToken',
      method: 'POST',
      path: '/auth/mfa/verify',
      body: { mfaToken: userTokens.refresh_token.slice(0, 100), method: 'recovery_code', code: 'aaaaa-bbbbb' },
      expect: [401],
      error: 'invalid_mfa_token',
    });
    add({
      category: 'second factors',
      name: 'an unknown method',
      method: 'POST',
      path: '/auth/mfa/verify',
      body: { mfaToken: 'x', method: 'sms', code: '123456' },
      expect: [400],
      error: 'validation_failed',
    });
    for (const [method, path] of [
      ['POST', '/me/factors/not-a-uuid/verify'],
      ['PATCH', '/me/factors/1%27%20OR%201=1'],
      ['DELETE', '/me/factors/..%2F..%2Fusers'],
      ['GET', '/admin/users/not-a-uuid/factors'],
      ['DELETE', `/admin/users/${userId}/factors/not-a-uuid`],
      ['DELETE', '/admin/users/not-a-uuid/factors/not-a-uuid'],
      ['POST', '/admin/users/%00/mfa/reset'],
    ]) {
      const body = method === 'POST' && path.startsWith('/me') ? { code: '123456' } : method === 'PATCH' ? { name: 'x' } : undefined;
      add({
        category: 'second factors',
        name: `${method} ${path}`,
        method,
        path,
        as: path.startsWith('/admin') ? 'admin' : 'user',
        body,
        expect: [400],
        error: 'validation_failed',
      });
    }
    add({
      category: 'second factors',
      name: 'verify a factor that is not there',
      method: 'POST',
      path: `/me/factors/${missing}/verify`,
      as: 'user',
      body: { code: '123456' },
      expect: [404],
      error: 'not_found',
    });
    add({
      category: 'second factors',
      name: 'rename a factor that is not there',
      method: 'PATCH',
      path: `/me/factors/${missing}`,
      as: 'user',
      body: { name: 'x' },
      expect: [404],
      error: 'not_found',
    });
    add({
      category: 'second factors',
      name: 'remove a factor that is not there',
      method: 'DELETE',
      path: `/me/factors/${missing}`,
      as: 'user',
      expect: [404],
      error: 'not_found',
    });
    add({
      category: 'second factors',
      name: "an unknown user's factors",
      method: 'GET',
      path: `/admin/users/${missing}/factors`,
      as: 'admin',
      expect: [404],
      error: 'not_found',
    });
    add({
      category: 'second factors',
      name: 'reset an unknown user',
      method: 'POST',
      path: `/admin/users/${missing}/mfa/reset`,
      as: 'admin',
      expect: [404],
      error: 'not_found',
    });
    add({
      category: 'second factors',
      name: "remove an unknown user's factor",
      method: 'DELETE',
      path: `/admin/users/${userId}/factors/${missing}`,
      as: 'admin',
      expect: [404],
      error: 'not_found',
    });
    add({
      category: 'second factors',
      name: 'a user resets another',
      method: 'POST',
      path: `/admin/users/${userId}/mfa/reset`,
      as: 'user',
      expect: [403],
      error: 'forbidden',
    });
    add({
      category: 'second factors',
      name: 'step up with a password on a TOTP-less account, no password',
      method: 'POST',
      path: '/me/step-up',
      as: 'user',
      body: { method: 'password' },
      expect: [400],
      error: 'validation_failed',
    });

    // ---------- absurd Authorization headers ----------
    const keys = app.app.get(SigningKeysService);
    const { kid, privateKey } = keys.signingKey;
    const publicPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: app.config.jwtIssuer, aud: app.config.jwtAudience, sub: user.id, sid: sessionId, jti: 'j', iat: now, exp: now + 600, role: 'admin' };
    const rs256 = (header: Record<string, unknown>, payload: Record<string, unknown>) => {
      const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid, ...header })}.${b64(payload)}`;
      return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
    };
    const authHeaders: Array<[string, string]> = [
      ['Bearer with 8 KB of junk', `Bearer ${'a'.repeat(8000)}`],
      ['Bearer with 15 KB of junk', `Bearer ${'a'.repeat(15_000)}`],
      ['Basic credentials', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
      ['Bearer without a token', 'Bearer'],
      ['Bearer and spaces', 'Bearer    '],
      ['Token scheme', `Token ${userTokens.access_token}`],
      ['the token without a scheme', userTokens.access_token],
      ['two bearer tokens', `Bearer ${userTokens.access_token}, Bearer ${adminTokens.access_token}`],
      ['the token and trailing junk', `Bearer ${userTokens.access_token} x`],
      ['a refresh token as bearer', `Bearer ${userTokens.refresh_token}`],
      ['three dots', 'Bearer ...'],
      ['header not base64 JSON', 'Bearer e30.e30.e30x'],
      ['alg none, admin claims', `Bearer ${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`],
      ['alg None (case)', `Bearer ${b64({ alg: 'None', typ: 'at+jwt', kid })}.${b64(claims)}.`],
      ['HS256 signed with the public key (PEM)', `Bearer ${jwt.sign(claims, publicPem, { algorithm: 'HS256', header: { alg: 'HS256', typ: 'at+jwt', kid } })}`],
      ['HS256 signed with the JWKS JSON', `Bearer ${jwt.sign(claims, keys.jwks(), { algorithm: 'HS256', header: { alg: 'HS256', typ: 'at+jwt', kid } })}`],
      ['a properly signed token with a 5 KB header', `Bearer ${rs256({ pad: 'p'.repeat(5000) }, claims)}`],
      ['a properly signed token with a 5 KB payload', `Bearer ${rs256({}, { ...claims, pad: 'p'.repeat(5000) })}`],
      ['a properly signed token with typ JWT', `Bearer ${rs256({ typ: 'JWT' }, claims)}`],
      ['a properly signed token with an unknown kid', `Bearer ${rs256({ kid: 'nope' }, claims)}`],
      ['a properly signed token for another audience', `Bearer ${rs256({}, { ...claims, aud: 'someone-else' })}`],
      ['a properly signed token that expired', `Bearer ${rs256({}, { ...claims, iat: now - 7200, exp: now - 3600 })}`],
      ['a properly signed token with role superuser', `Bearer ${rs256({}, { ...claims, role: 'superuser' })}`],
      ['a properly signed token without sid', `Bearer ${rs256({}, { ...claims, sid: undefined })}`],
      ['a signature from another key', `Bearer ${userTokens.access_token.split('.').slice(0, 2).join('.')}.${adminTokens.access_token.split('.')[2]}`],
      ['a JWE-shaped token', `Bearer ${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`],
    ];
    for (const [label, value] of authHeaders) {
      add({
        category: 'absurd Authorization headers',
        name: `GET /me with ${label}`,
        method: 'GET',
        path: '/me',
        headers: { authorization: value },
        expect: [401],
        error: 'invalid_token',
      });
    }
    for (const [method, path] of [
      ['GET', '/me'],
      ['POST', '/me/password'],
      ['GET', '/me/sessions'],
      ['DELETE', `/me/sessions/${sessionId}`],
      ['POST', '/auth/logout'],
      ['GET', '/auth/session'],
      ['GET', '/admin/users'],
      ['GET', `/admin/users/${userId}`],
      ['GET', `/admin/users/${userId}/sessions`],
      ['DELETE', `/admin/users/${userId}/sessions`],
      ['DELETE', `/admin/sessions/${sessionId}`],
      ['POST', `/admin/users/${userId}/disable`],
      ['POST', `/admin/users/${userId}/enable`],
      ['GET', '/admin/events'],
      ['GET', '/admin/events/hourly'],
    ]) {
      add({ category: 'absurd Authorization headers', name: `${method} ${path} without a token`, method, path, expect: [401], error: 'invalid_token' });
      add({
        category: 'absurd Authorization headers',
        name: `${method} ${path} with alg none`,
        method,
        path,
        headers: { authorization: `Bearer ${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.` },
        expect: [401],
        error: 'invalid_token',
      });
      if (path.startsWith('/admin'))
        add({
          category: 'absurd Authorization headers',
          name: `${method} ${path} as a plain user`,
          method,
          path,
          as: 'user',
          expect: [403],
          error: 'forbidden',
        });
    }

    // ---------- very long and malformed headers, and bad methods on the public routes ----------
    const longHeaders: Array<[string, Record<string, string>, number[]]> = [
      ['a 20 KB Authorization header', { authorization: `Bearer ${'a'.repeat(20_000)}` }, [431]],
      ['a 20 KB cookie', { cookie: `latchkey_refresh=${'c'.repeat(20_000)}` }, [431]],
      ['a 20 KB user agent', { 'user-agent': 'u'.repeat(20_000) }, [431]],
      ['200 headers of 100 bytes', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, 'v'.repeat(100)])), [431]],
    ];
    for (const [path, method] of [
      ['/me', 'GET'],
      ['/auth/login', 'POST'],
      ['/auth/token', 'POST'],
      ['/health', 'GET'],
      ['/.well-known/jwks.json', 'GET'],
    ]) {
      for (const [label, headers, expect] of longHeaders)
        add({
          category: 'very long headers',
          name: `${method} ${path} with ${label}`,
          method,
          path,
          headers,
          expect,
          body: method === 'POST' ? {} : undefined,
        });
    }
    add({ category: 'very long headers', name: 'a 20 KB URL', method: 'GET', path: `/health?${'q'.repeat(20_000)}`, expect: [414, 431] });
    add({
      category: 'very long headers',
      name: 'NUL in a header value',
      method: 'GET',
      path: '/me',
      wire: `GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer a\u0000b\r\n\r\n`,
      expect: [400],
    });
    add({
      category: 'very long headers',
      name: 'a header line without a colon',
      method: 'GET',
      path: '/me',
      wire: `GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization Bearer x\r\n\r\n`,
      expect: [400],
    });
    add({
      category: 'very long headers',
      name: 'a bare LF request line',
      method: 'GET',
      path: '/health',
      wire: `GET /health HTTP/1.1\nHost: x\nConnection: close\n\n`,
      expect: [400],
    });
    add({
      category: 'very long headers',
      name: 'obs-fold in Authorization',
      method: 'GET',
      path: '/me',
      wire: `GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer\r\n ${userTokens.access_token}\r\n\r\n`,
      expect: [400, 401],
    });
    add({
      category: 'very long headers',
      name: 'invalid UTF-8 in the path',
      method: 'GET',
      path: '/x',
      wire: Buffer.concat([Buffer.from('GET /admin/users/'), Buffer.from([0xff, 0xfe]), Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]),
      expect: [400, 404],
    });
    for (const [method, path] of [
      ['POST', '/health'],
      ['DELETE', '/health/ready'],
      ['PUT', '/.well-known/jwks.json'],
      ['POST', '/.well-known/oauth-authorization-server'],
      ['GET', '/.well-known/../../../etc/passwd'],
      ['GET', '/.well-known/%2e%2e/%2e%2e/etc/passwd'],
      ['GET', '/.well-known/jwks.json%00.html'],
      ['GET', '/health/ready/../../admin/users'],
      ['PATCH', '/auth/login'],
      ['GET', '/auth/token'],
      ['PUT', '/me'],
      ['GET', `/admin/assets/..%2F..%2F..%2Fpackage.json`],
      ['GET', '/admin/assets/js/..%2F..%2Fadmin.controller.js'],
    ]) {
      add({ category: 'bad methods and paths on public routes', name: `${method} ${path}`, method, path, expect: [400, 404], error: undefined });
    }
    return list;
  }

  it('answers at least 200 hostile requests with contract 4xx errors and changes nothing', async () => {
    const all = cases();
    // Every operation that takes input (per the OpenAPI document) is attacked at least once, so
    // a new route cannot join the API without hostile cases.
    const unattacked = operationsWithInput.filter((op) => !all.some((c) => c.method === op.method && op.path.test(c.path)));
    assert.deepEqual(
      unattacked.map((op) => op.name),
      [],
      'operations without a hostile case',
    );
    const secrets = [userTokens.refresh_token, adminTokens.refresh_token, PASSWORD, ADMIN_PASSWORD];
    const failures: string[] = [];
    let previous = await snapshot(app);
    for (const c of all) {
      const label = `[${c.category}] ${c.name}`;
      counts.set(c.category, (counts.get(c.category) ?? 0) + 1);
      let answer: Answer;
      try {
        answer = await send(port, c, tokens);
      } catch (error) {
        failures.push(`${label}: request failed: ${(error as Error).message}`);
        continue;
      }
      const problems: string[] = [];
      const { status, text } = answer;
      if (status >= 500) problems.push(`a ${status}`);
      if (c.expect ? !c.expect.includes(status) : status < 400 || status >= 500) problems.push(`status ${status}, expected ${c.expect?.join('/') ?? '4xx'}`);
      if (status >= 400) {
        let body: Record<string, unknown> | undefined;
        try {
          body = JSON.parse(text);
        } catch {
          problems.push(`not a JSON body: ${JSON.stringify(text.slice(0, 120))}`);
        }
        if (body) {
          const extra = Object.keys(body).filter((k) => !['statusCode', 'error', 'message', 'details', 'error_description'].includes(k));
          if (extra.length) problems.push(`unexpected fields ${extra}`);
          if (body.statusCode !== status) problems.push(`statusCode ${body.statusCode} in a ${status}`);
          if (!CONTRACT_ERRORS.has(String(body.error))) problems.push(`error ${JSON.stringify(body.error)} is not a contract code`);
          if (c.error && body.error !== c.error) problems.push(`error ${body.error}, expected ${c.error}`);
          if (typeof body.message !== 'string' || !body.message) problems.push('no message');
          const path = c.path.split('?')[0];
          if (oauthPaths.has(path) && status === 400) {
            if (!['invalid_request', 'invalid_grant', 'unsupported_grant_type'].includes(String(body.error)))
              problems.push(`OAuth endpoint answered ${body.error}`);
            if (typeof body.error_description !== 'string') problems.push('OAuth error without error_description');
            if (!/no-store/.test(String(answer.headers['cache-control']))) problems.push('OAuth error without Cache-Control: no-store');
          }
          if (status === 401 && body.error === 'invalid_token' && !/^Bearer/.test(String(answer.headers['www-authenticate'])))
            problems.push('401 without WWW-Authenticate: Bearer');
          if (status === 429 && !answer.headers['retry-after']) problems.push('429 without Retry-After');
        }
      }
      for (const secret of secrets) if (text.includes(secret)) problems.push('the answer echoes a credential');
      if (/\bat \S+ \(|QueryFailedError|SQLITE_[A-Z]|\bER_[A-Z_]+|\bSELECT\b.*\bFROM\b|\.ts:\d+|node_modules/.test(text))
        problems.push(`the answer leaks internals: ${text.slice(0, 160)}`);
      const now = await snapshot(app);
      try {
        assertUnchanged(previous, now, label);
      } catch (error) {
        problems.push((error as Error).message.split('\n')[0]);
      }
      previous = now;
      if (problems.length) failures.push(`${label} -> ${status} ${text.slice(0, 160)}\n      ${problems.join('\n      ')}`);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${all.length} hostile requests were mishandled:\n${failures.join('\n')}`);
  });

  it('refuses oversized passwords before argon2 and oversized JWTs before any key lookup or crypto', async () => {
    const hashes = hashCalls;
    const verifies = verifyCalls;
    const r1 = await http.post('/auth/register', { email: uniqueEmail(), password: 'p'.repeat(129) });
    assert.equal(r1.status, 400);
    const r2 = await http.post('/auth/login', { email: user.email, password: 'p'.repeat(300) });
    assert.equal(r2.status, 400);
    const r3 = await http.post('/me/password', { currentPassword: PASSWORD, newPassword: 'p'.repeat(129) }, { token: userTokens.access_token });
    assert.equal(r3.status, 400);
    assert.equal(hashCalls, hashes, 'argon2 hash was never called');
    assert.equal(verifyCalls, verifies, 'argon2 verify was never called');

    const keys = app.app.get(SigningKeysService);
    const { kid, privateKey } = keys.signingKey;
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: app.config.jwtIssuer,
      aud: app.config.jwtAudience,
      sub: user.id,
      sid: userTokens.session_id,
      jti: 'j',
      iat: now,
      exp: now + 600,
      role: 'user',
    };
    const sign = (header: Record<string, unknown>, payload: Record<string, unknown>) => {
      const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid, ...header })}.${b64(payload)}`;
      return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
    };
    // The control: a well-formed token signed by the real key is accepted (one key lookup).
    const lookups = keyLookups;
    assert.equal((await http.get('/auth/session', { token: sign({}, claims) })).status, 200);
    assert.equal(keyLookups, lookups + 1);
    for (const token of [
      sign({ pad: 'x'.repeat(5000) }, claims),
      sign({}, { ...claims, pad: 'x'.repeat(5000) }),
      `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`,
      jwt.sign(claims, 'secret', { algorithm: 'HS256', header: { alg: 'HS256', typ: 'at+jwt', kid } }),
    ]) {
      const before = keyLookups;
      const r = await http.get('/auth/session', { token });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      assert.equal(keyLookups, before, 'refused before the key lookup, so before any signature check');
    }
  });
});
