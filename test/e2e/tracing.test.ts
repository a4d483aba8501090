import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import { freshDatabase, REDIS_URL, TEST_DB, TestDatabase, testEnv } from '../support/app';
import { freePort } from '../support/faults';
import { Http, login, PASSWORD, refresh, register, uniqueEmail } from '../support/http';
import { latchkeyProcess, ServiceProcess } from '../support/processes';
import { needs, redisAnswers } from '../support/services';
import { SmtpSink, tokenOf } from '../support/smtp';

/** A collector's OTLP/HTTP traces endpoint in the test process: keeps every body as it arrived. */
class OtlpReceiver {
  readonly bodies: Array<{ contentType: string; raw: Buffer }> = [];
  private server?: Server;
  port = 0;

  async start(): Promise<this> {
    this.port = await freePort();
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method === 'POST' && request.url === '/v1/traces')
          this.bodies.push({ contentType: String(request.headers['content-type']), raw: Buffer.concat(chunks) });
        response.writeHead(request.url === '/v1/traces' ? 200 : 404, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every byte received, as text: what a leak check greps. */
  get everything(): string {
    return this.bodies.map((b) => b.raw.toString('latin1')).join('\n');
  }

  spans(): Span[] {
    const spans: Span[] = [];
    for (const body of this.bodies) {
      const parsed = JSON.parse(body.raw.toString('utf8')) as {
        resourceSpans: Array<{ resource: { attributes: KeyValue[] }; scopeSpans: Array<{ spans: RawSpan[] }> }>;
      };
      for (const rs of parsed.resourceSpans) {
        const resource = attributesOf(rs.resource.attributes);
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, attrs: attributesOf(s.attributes ?? []), resource });
      }
    }
    return spans;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
}
interface RawSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
  links?: Array<{ traceId: string; spanId: string }>;
}
interface Span extends RawSpan {
  attrs: Record<string, unknown>;
  resource: Record<string, unknown>;
}

function attributesOf(list: KeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list)
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue));
  return out;
}

const SERVER = 2;
const CLIENT = 3;

/** The span's ancestors, nearest first (within what was received). */
function ancestors(span: Span, all: Span[]): Span[] {
  const byId = new Map(all.map((s) => [s.spanId, s]));
  const chain: Span[] = [];
  for (let at = span.parentSpanId ? byId.get(span.parentSpanId) : undefined; at; at = at.parentSpanId ? byId.get(at.parentSpanId) : undefined) chain.push(at);
  return chain;
}

function serverSpanOf(span: Span, all: Span[]): Span | undefined {
  return ancestors(span, all).find((s) => s.kind === SERVER);
}

const MAIN = join(__dirname, '../../src/main.js');

/**
 * Starts dist/src/main.js the way `npm start` does, waits until it answers, and returns the
 * @opentelemetry files the process has loaded by then (then stops it).
 */
function loadedTelemetryModules(env: Record<string, string>): Promise<string[]> {
  const script = `
    require(${JSON.stringify(MAIN)});
    const timer = setInterval(() => fetch('http://127.0.0.1:' + process.env.PORT + '/health').then(() => {
      clearInterval(timer);
      process.stdout.write('LOADED ' + JSON.stringify(Object.keys(require.cache).filter((f) => f.includes('@opentelemetry'))) + '\\n');
      process.exit(0);
    }, () => undefined), 100);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', () => {
      clearTimeout(timer);
      const line = /^LOADED (.*)$/m.exec(output);
      if (line) resolve(JSON.parse(line[1]) as string[]);
      else reject(new Error(`the app did not start: ${output.slice(-2000)}`));
    });
  });
}

describe(`OpenTelemetry traces to an OTLP/HTTP receiver [${TEST_DB}]`, async () => {
  const redis = await redisAnswers();
  const redisSkip = needs(`Redis at ${REDIS_URL}`, redis, 'REQUIRE_REDIS');
  let receiver: OtlpReceiver;
  let smtp: SmtpSink;
  let db: TestDatabase;
  let latchkey: ServiceProcess;
  const secrets: Record<string, string> = {};
  let spans: Span[] = [];
  let bearerTraceId = '';
  let bearerParentId = '';
  let sessionId = '';
  let userId = '';

  before(async () => {
    receiver = await new OtlpReceiver().start();
    smtp = await SmtpSink.start();
    db = freshDatabase();
    latchkey = await latchkeyProcess(db, {
      SMTP_URL: smtp.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Nothing is exported on a timer during the test: what arrives comes from the flush at shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '5000',
      OTEL_BSP_MAX_QUEUE_SIZE: '10000',
      OTEL_SERVICE_NAME: 'latchkey-under-test',
      // Counted in Redis when it is there: Redis commands inside requests.
      AUTH_RATE_LIMIT: '1000/1m',
      ...(redis ? { REDIS_URL } : {}),
    });
    await latchkey.start('/health', 120_000); // generous: a loaded machine starts it slowly
    const http = new Http(latchkey.url);

    const email = uniqueEmail('traced');
    const user = await register(http, email);
    userId = user.id;
    const tokens = await login(http, email, PASSWORD, { deviceName: 'traced device' });
    sessionId = tokens.session_id;
    const refreshed = await refresh(http, tokens.refresh_token);
    assert.equal(refreshed.status, 200, refreshed.text);
    const cookieLogin = await login(http, email, PASSWORD, { useCookie: true });
    const cookie = [...http.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    assert.ok(cookie, 'the cookie login set a cookie');

    // The caller's trace: the bearer request's server span must join it (W3C traceparent in).
    bearerTraceId = randomBytes(16).toString('hex');
    bearerParentId = randomBytes(8).toString('hex');
    const bearer = await http.get('/auth/session', {
      token: refreshed.body.access_token,
      headers: { traceparent: `00-${bearerTraceId}-${bearerParentId}-01` },
    });
    assert.equal(bearer.status, 200, bearer.text);

    assert.equal((await http.post('/auth/password/forgot', { email })).status, 202);
    const mail = await smtp.next(email, /Reset your/, 60_000);
    const linkToken = tokenOf(mail, 'reset-password');
    // A link token in a query string (the fragment never reaches a server; a careless client might).
    const page = await http.get(`/account/reset-password?token=${encodeURIComponent(linkToken)}`);
    assert.ok(page.status < 500, page.text);
    const newPassword = 'traced new password 1';
    const reset = await http.post('/auth/password/reset', { token: linkToken, newPassword });
    assert.equal(reset.status, 200, reset.text);

    await latchkey.stop(); // SIGTERM: the shutdown flushes what is buffered
    Object.assign(secrets, {
      password: PASSWORD,
      newPassword,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      rotatedAccessToken: refreshed.body.access_token,
      rotatedRefreshToken: refreshed.body.refresh_token,
      cookieAccessToken: cookieLogin.access_token,
      cookie,
      cookieValue: [...http.cookies.values()][0] ?? '',
      linkToken,
    });
    spans = receiver.spans();
  });

  after(async () => {
    await latchkey?.stop();
    await smtp?.stop();
    await receiver?.stop();
    await db?.drop();
  });

  it('exports OTLP/JSON to /v1/traces on shutdown, under OTEL_SERVICE_NAME', () => {
    assert.ok(receiver.bodies.length > 0, `no export arrived; log: ${latchkey.output.slice(-2000)}`);
    assert.ok(receiver.bodies.every((b) => b.contentType.startsWith('application/json')));
    assert.ok(spans.every((s) => s.resource['service.name'] === 'latchkey-under-test'));
  });

  it('has a server span per request, named by the route template, with its status code', () => {
    for (const name of [
      'POST /auth/register',
      'POST /auth/login',
      'POST /auth/token',
      'GET /auth/session',
      'POST /auth/password/forgot',
      'POST /auth/password/reset',
      'GET /account/reset-password',
    ]) {
      const span = spans.find((s) => s.kind === SERVER && s.name === name);
      assert.ok(span, `a server span ${name}; got ${[...new Set(spans.map((s) => s.name))].join(', ')}`);
      assert.equal(span.attrs['http.route'], name.split(' ')[1]);
      assert.equal(typeof span.attrs['http.response.status_code'], 'number');
    }
    assert.ok(!spans.some((s) => s.kind === SERVER && String(s.attrs['url.path'] ?? '').startsWith('/health')), 'health probes are not traced');
  });

  it("joins the caller's trace (traceparent) and names the session and user on the bearer request", () => {
    const span = spans.find((s) => s.kind === SERVER && s.name === 'GET /auth/session')!;
    assert.equal(span.traceId, bearerTraceId);
    assert.equal(span.parentSpanId, bearerParentId);
    assert.equal(span.attrs['latchkey.session_id'], sessionId);
    assert.equal(span.attrs['user.id'], userId);
    const loginSpan = spans.find((s) => s.kind === SERVER && s.name === 'POST /auth/login')!;
    assert.equal(loginSpan.attrs['latchkey.session_id'], sessionId);
  });

  it("has database spans inside the requests: the statement's text, never its values", () => {
    const system = TEST_DB === 'mysql' ? 'mysql' : 'sqlite';
    const statements = spans.filter((s) => s.attrs['db.system.name'] === system);
    assert.ok(statements.length > 0, 'database spans');
    const inLogin = statements.filter((s) => serverSpanOf(s, spans)?.name === 'POST /auth/login');
    assert.ok(inLogin.length > 0, 'statements of the login, children of its server span');
    assert.ok(inLogin.every((s) => s.kind === CLIENT && typeof s.attrs['db.query.text'] === 'string'));
    assert.ok(
      statements.some((s) => /\?/.test(String(s.attrs['db.query.text']))),
      'parameterised text',
    );
  });

  it('has argon2 spans inside register and login, and an SMTP span inside the mail delivery', () => {
    const hash = spans.find((s) => s.name === 'argon2id hash' && serverSpanOf(s, spans)?.name === 'POST /auth/register');
    assert.ok(hash, 'argon2id hash under POST /auth/register');
    assert.equal(hash.attrs['latchkey.hash.algorithm'], 'argon2id');
    assert.ok(
      spans.some((s) => s.name === 'argon2id verify' && serverSpanOf(s, spans)?.name === 'POST /auth/login'),
      'argon2id verify under POST /auth/login',
    );
    const sends = spans.filter((s) => s.name === 'smtp send');
    assert.ok(sends.length > 0, 'smtp send spans');
    for (const send of sends) {
      assert.equal(send.kind, CLIENT);
      assert.equal(send.attrs['server.port'], smtp.port);
      const parent = ancestors(send, spans)[0];
      assert.equal(parent?.name, 'mail deliver');
      assert.ok(parent.attrs['latchkey.mail.kind'], 'the delivery names the kind of mail');
    }
    // The delivery's own statements (claim, prepare, record) are its children.
    assert.ok(spans.some((s) => s.attrs['db.system.name'] && ancestors(s, spans).some((a) => a.name === 'mail deliver')));
  });

  it('has Redis spans inside requests when REDIS_URL is set, with the command name only', { skip: redisSkip }, () => {
    const commands = spans.filter((s) => s.attrs['db.system.name'] === 'redis');
    assert.ok(commands.length > 0, 'redis spans');
    for (const command of commands) {
      assert.ok(serverSpanOf(command, spans), `${command.name} inside a request`);
      assert.match(String(command.attrs['db.query.text']), /^[a-z]+$/i);
    }
  });

  it('carries no token, password, cookie or link token anywhere in what was exported', () => {
    const everything = receiver.everything;
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value.length >= 8, `${what} is a real value`);
      assert.ok(!everything.includes(value), `${what} leaked into the exported spans`);
    }
    // The query's names may show; the link token's value not even URL-encoded.
    assert.ok(!everything.includes(encodeURIComponent(secrets.linkToken)));
    const page = spans.find((s) => s.name === 'GET /account/reset-password')!;
    assert.equal(page.attrs['url.query'], 'token=REDACTED');
  });
});

describe('tracing off: no SDK in the process', () => {
  it('loads no OpenTelemetry SDK, exporter or instrumentation without OTEL_EXPORTER_OTLP_ENDPOINT, and does with it', async () => {
    const db = freshDatabase();
    try {
      const env = testEnv(db, { LOG_LEVEL: 'warn', PORT: String(await freePort()) });
      const off = await loadedTelemetryModules({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' });
      const beyondTheApi = off.filter((f) => !/[\\/]@opentelemetry[\\/]api[\\/]/.test(f));
      assert.deepEqual(beyondTheApi, [], 'only the API (a no-op without an SDK) may be loaded');
      const receiver = await new OtlpReceiver().start();
      try {
        const on = await loadedTelemetryModules({ ...env, PORT: String(await freePort()), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
        assert.ok(
          on.some((f) => f.includes('sdk-trace')),
          'the same check sees the SDK when tracing is on',
        );
      } finally {
        await receiver.stop();
      }
    } finally {
      await db.drop();
    }
  });

  it('refuses to start with a malformed endpoint, naming the variable', async () => {
    const db = freshDatabase();
    try {
      const child = spawn(process.execPath, [MAIN], {
        env: { ...process.env, ...testEnv(db, { PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 78);
      assert.match(output, /OTEL_EXPORTER_OTLP_ENDPOINT/);
    } finally {
      await db.drop();
    }
  });
});
