import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, decodeJwt, eventually, login, register } from '../support/http';
import { ShiftedClock } from '../support/clock';
import { Clock } from '../../src/common/clock';

/** Opens GET /auth/session/events and collects what arrives until the stream ends. */
async function openEvents(base: string, authorization: string): Promise<{ status: number; ended: Promise<string> }> {
  const response = await fetch(`${base}/auth/session/events`, { headers: { authorization, accept: 'text/event-stream' } });
  if (response.status !== 200) return { status: response.status, ended: Promise.resolve(await response.text()) };
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const ended = (async () => {
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    return text;
  })();
  return { status: 200, ended };
}

describe(`a browser's watch on its own session: GET /auth/session/events [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const clock = new ShiftedClock();

  before(async () => {
    app = await startApp({ ACCESS_TOKEN_TTL: '3s' }, undefined, [{ provide: Clock, useValue: clock }]);
    http = new Http(app.url);
  });
  after(async () => app?.close());

  it('says `revoked` and ends the moment the session is revoked elsewhere; other sessions hear nothing', async () => {
    const user = await register(http);
    const laptop = await login(http, user.email);
    const phone = await login(http, user.email);
    const watched = await openEvents(app.url, `Bearer ${laptop.access_token}`);
    const bystander = await openEvents(app.url, `Bearer ${phone.access_token}`);
    assert.equal(watched.status, 200);
    let bystanderText: string | undefined;
    void bystander.ended.then((t) => (bystanderText = t));
    assert.equal((await http.delete(`/me/sessions/${laptop.session_id}`, { token: phone.access_token })).status, 204);
    const text = await watched.ended;
    assert.match(text, /^: watching this session\n\n/);
    assert.match(text, /event: revoked\ndata: \{\}\n\n$/);
    assert.equal(bystanderText, undefined, "the phone's stream is still open");
  });

  it('ends with `expired` when the access token that opened it expires', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    // The clock moved to a second before the token's exp: the stream's own timer runs that last second.
    clock.advance(Math.max(0, decodeJwt(t.access_token).payload.exp * 1000 - clock.now() - 1000));
    const watched = await openEvents(app.url, `Bearer ${t.access_token}`);
    assert.match(await watched.ended, /event: expired\ndata: \{\}\n\n$/);
  });

  it('refuses a revoked session and a missing token like any protected route', async () => {
    const user = await register(http);
    const t = await login(http, user.email);
    assert.equal((await http.post('/auth/logout', undefined, { token: t.access_token })).status, 204);
    assert.equal((await openEvents(app.url, `Bearer ${t.access_token}`)).status, 401);
    assert.equal((await fetch(`${app.url}/auth/session/events`)).status, 401);
  });
});

/** Opens a session event stream that the test can close; its status, and the Retry-After of a refusal. */
async function openClosable(base: string, token: string): Promise<{ status: number; retryAfter: string | null; error?: string; close(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${base}/auth/session/events`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  if (response.status !== 200) {
    const body = await response.json();
    return { status: response.status, retryAfter: response.headers.get('retry-after'), error: body.error, close: () => undefined };
  }
  // Read on, so the stream stays open until closed.
  void (async () => {
    try {
      for await (const _ of response.body as unknown as AsyncIterable<Uint8Array>);
    } catch {
      // closed by the test
    }
  })();
  return { status: 200, retryAfter: null, close: () => controller.abort() };
}

describe(`open session event streams are bounded per session, per user and in all [${TEST_DB}]`, () => {
  let app: TestApp;
  let http: Http;
  const opened: Array<{ close(): void }> = [];

  before(async () => {
    app = await startApp({ STREAMS_PER_SESSION: '2', STREAMS_PER_USER: '3', STREAMS_MAX: '10' });
    http = new Http(app.url);
  });
  after(async () => {
    for (const s of opened) s.close();
    await app?.close();
  });

  const open = async (token: string) => {
    const stream = await openClosable(app.url, token);
    opened.push(stream);
    return stream;
  };

  it('answers 429 too_many_requests with Retry-After past the session and the user caps, and frees a slot when a stream closes', async () => {
    const user = await register(http);
    const [a, b, c] = [await login(http, user.email), await login(http, user.email), await login(http, user.email)];
    const first = await open(a.access_token);
    assert.equal(first.status, 200);
    assert.equal((await open(a.access_token)).status, 200);
    const thirdOnA = await open(a.access_token);
    assert.deepEqual([thirdOnA.status, thirdOnA.error], [429, 'too_many_requests'], 'past STREAMS_PER_SESSION');
    assert.match(thirdOnA.retryAfter ?? '', /^[1-9]\d*$/);
    assert.equal((await open(b.access_token)).status, 200, 'another session of the user still has room');
    const onC = await open(c.access_token);
    assert.deepEqual([onC.status, onC.error], [429, 'too_many_requests'], 'past STREAMS_PER_USER');
    assert.match(onC.retryAfter ?? '', /^[1-9]\d*$/);
    first.close();
    await eventually(
      async () => {
        const again = await open(c.access_token);
        return again.status === 200;
      },
      5000,
      50,
    );
  });

  it("past browsers' half of STREAMS_MAX answers 503 with Retry-After, and ordinary requests still work", async () => {
    // The first test left 3 streams open; two more users take the remaining 2 of browsers' 5 (half of 10).
    const users = [await register(http), await register(http), await register(http)];
    const tokens = [];
    for (const u of users) tokens.push(await login(http, u.email));
    assert.equal((await open(tokens[0].access_token)).status, 200);
    assert.equal((await open(tokens[1].access_token)).status, 200);
    const full = await open(tokens[2].access_token);
    assert.deepEqual([full.status, full.error], [503, 'service_unavailable'], "past browsers' half of STREAMS_MAX");
    assert.match(full.retryAfter ?? '', /^[1-9]\d*$/);
    assert.equal((await http.get('/health')).status, 200);
    assert.equal((await http.get('/me', { token: tokens[2].access_token })).status, 200);
  });
});
