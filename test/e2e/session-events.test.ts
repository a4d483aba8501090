import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, TestApp, TEST_DB } from '../support/app';
import { Http, login, register } from '../support/http';

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

  before(async () => {
    app = await startApp({ ACCESS_TOKEN_TTL: '3s' });
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
