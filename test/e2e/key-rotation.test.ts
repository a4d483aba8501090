import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { freshDatabase, startApp, TestApp, TestDatabase, TEST_DB } from '../support/app';
import { Http, PASSWORD, Tokens, login, refresh, register, uniqueEmail } from '../support/http';

/**
 * REFRESH_TOKEN_KEYS=new:…,old:…: the first key signs new chain links, every listed key is
 * accepted. Rotating the refresh MAC key is a restart with the new key in front; chains keep
 * working, each moving onto the new key at its next refresh. Dropping the old key later ends
 * the chains that never came back in between, and only those.
 */
const keyOf = (token: string) => token.split('.')[2];
const newKey = () => randomBytes(32).toString('base64url');

describe(`refresh MAC key rotation [${TEST_DB}]`, () => {
  const oldKey = `old:${newKey()}`;
  const nextKey = `new:${newKey()}`;
  let db: TestDatabase;
  let app: TestApp | undefined;

  before(() => {
    db = freshDatabase();
  });
  after(async () => {
    await app?.close();
    await db.drop();
  });

  async function restartWith(keys: string): Promise<Http> {
    await app?.close();
    app = await startApp({ REFRESH_TOKEN_KEYS: keys }, db);
    return new Http(app.url);
  }

  it('old chains keep working across the rotation and move onto the new key; dropping the old key ends only the idle ones', async () => {
    // Before: one key.
    let http = await restartWith(oldKey);
    const user = await register(http, uniqueEmail('rotation'));
    const active: Tokens = await login(http, user.email, PASSWORD, { deviceId: 'device-active' });
    const idle: Tokens = await login(http, user.email, PASSWORD, { deviceId: 'device-idle' });
    assert.equal(keyOf(active.refresh_token), 'old');
    const r0 = await refresh(http, active.refresh_token);
    assert.equal(r0.status, 200);
    assert.equal(keyOf(r0.body.refresh_token), 'old');

    // Rotation: the new key signs, the old one is still accepted.
    http = await restartWith(`${nextKey},${oldKey}`);
    const r1 = await refresh(http, r0.body.refresh_token);
    assert.equal(r1.status, 200, `an old-key token works after the rotation: ${r1.text}`);
    assert.equal(keyOf(r1.body.refresh_token), 'new', 'and the chain moves onto the new key');
    // Inside the grace window the old-key link is answered with the same new link (idempotent).
    const again = await refresh(http, r0.body.refresh_token);
    assert.equal(again.status, 200);
    assert.equal(again.body.refresh_token, r1.body.refresh_token);
    const fresh = await login(http, user.email, PASSWORD, { deviceId: 'device-fresh' });
    assert.equal(keyOf(fresh.refresh_token), 'new', 'new logins use the new key');
    const r2 = await refresh(http, r1.body.refresh_token);
    assert.equal(r2.status, 200);

    // Later, the old key is dropped.
    http = await restartWith(nextKey);
    const r3 = await refresh(http, r2.body.refresh_token);
    assert.equal(r3.status, 200, 'a chain that came back during the rotation is unaffected');
    const f1 = await refresh(http, fresh.refresh_token);
    assert.equal(f1.status, 200);
    const stale = await refresh(http, idle.refresh_token);
    assert.equal(stale.status, 400, 'a chain still on the dropped key is over');
    assert.equal(stale.body.error, 'invalid_grant');
    // A token that no listed key can verify is treated like a forgery: it revokes nothing.
    const rows = await app!.database.rows<{ revoked_at: unknown }>('SELECT revoked_at FROM sessions WHERE id = ?', [idle.session_id]);
    assert.equal(rows[0].revoked_at, null);
    assert.equal((await http.get('/auth/session', { token: r3.body.access_token })).status, 200);
  });

  it('a token with a key id that was never configured, or with the right id and another key, is refused', async () => {
    const http = await restartWith(`${nextKey},${oldKey}`);
    const user = await register(http, uniqueEmail('rotation-forged'));
    const tokens = await login(http, user.email);
    const [sid, generation, , mac] = tokens.refresh_token.split('.');
    for (const forged of [`${sid}.${generation}.other.${mac}`, `${sid}.${generation}.old.${mac}`]) {
      const r = await refresh(http, forged);
      assert.equal(r.status, 400, forged);
      assert.equal(r.body.error, 'invalid_grant');
    }
    assert.equal((await refresh(http, tokens.refresh_token)).status, 200, 'and the real chain is untouched');
  });
});
