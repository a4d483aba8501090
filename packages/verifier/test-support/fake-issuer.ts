import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';

export interface SigningKey {
  kid: string;
  alg: 'ES256' | 'EdDSA' | 'RS256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export interface FakeIssuerOptions {
  clientId?: string;
  clientSecret?: string;
  /** Published as access_token_max_lifetime; undefined leaves it out of the metadata. */
  tokenLifetime?: number;
  /** Serve Server-Sent Events when asked; false answers JSON whatever the Accept header. */
  sse?: boolean;
  /** Interval of SSE comment lines. */
  heartbeatMs?: number;
  /** Most events per JSON page, to exercise `more`. */
  pageSize?: number;
}

export interface FeedRequest {
  accept: string;
  lastEventId: string | undefined;
  after: string | null;
  wait: string | null;
  limit: string | null;
}

export interface TokenOptions {
  key?: SigningKey;
  /** Header fields to override (alg, typ, kid). */
  header?: Record<string, unknown>;
  /** Seconds since the epoch that iat/exp are based on. Default: now. */
  now?: number;
  lifetime?: number;
}

export interface RevokeOptions {
  key?: SigningKey;
  aud?: string;
  iss?: string;
  typ?: string;
  /** event_timestamp, in seconds. Default: now. */
  at?: number;
  userId?: string;
}

/**
 * An in-process stand-in for latchkey's public side: RFC 8414 metadata, a JWKS, and the session
 * revocation feed (JSON pages, long polling, Server-Sent Events), with tokens and SETs signed by jose.
 * Cursors are `c<number of events before it>`.
 */
export class FakeIssuer {
  readonly audience = 'latchkey';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly keys: SigningKey[] = [];
  readonly events: string[] = [];
  readonly feedRequests: FeedRequest[] = [];
  jwksFetches = 0;
  /** False: the JWKS answers 503 (an outage, or a proxy in the way), while the feed keeps working. */
  jwksAvailable = true;
  url = '';
  private published = new Set<string>();
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  private readonly waiters = new Set<() => void>();
  private port = 0;

  private constructor(private readonly options: FakeIssuerOptions) {
    this.clientId = options.clientId ?? 'rs-client';
    this.clientSecret = options.clientSecret ?? 's3cret: with spaces+plus';
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(options: FakeIssuerOptions = {}): Promise<FakeIssuer> {
    const issuer = new FakeIssuer(options);
    await issuer.addKey('ES256');
    await issuer.listen();
    return issuer;
  }

  get issuer(): string {
    return this.url;
  }

  /** Options a verifier needs to follow this issuer. */
  get verifierOptions() {
    return { issuer: this.issuer, audience: this.audience, clientId: this.clientId, clientSecret: this.clientSecret };
  }

  async addKey(alg: SigningKey['alg'] = 'ES256', publish = true): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    const key = { kid, alg, privateKey, publicKey, jwk };
    this.keys.push(key);
    if (publish) this.published.add(kid);
    return key;
  }

  publish(kid: string): void {
    this.published.add(kid);
  }

  unpublish(kid: string): void {
    this.published.delete(kid);
  }

  get defaultKey(): SigningKey {
    return this.keys[0];
  }

  /** An access token as latchkey issues it; `claims` overrides or adds (undefined removes). */
  async token(claims: Record<string, unknown> = {}, options: TokenOptions = {}): Promise<string> {
    const key = options.key ?? this.defaultKey;
    const now = options.now ?? Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      iss: this.issuer,
      aud: this.audience,
      sub: 'user-1',
      sid: randomUUID(),
      jti: randomUUID(),
      iat: now,
      exp: now + (options.lifetime ?? 900),
      role: 'user',
      ...claims,
    };
    for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...options.header }).sign(key.privateKey);
  }

  /** A session-revoked SET for `sessionId`, as latchkey signs it, appended to the feed. */
  async revoke(sessionId: string, options: RevokeOptions = {}): Promise<string> {
    const set = await this.sessionRevokedSet(sessionId, options);
    this.append(set);
    return set;
  }

  async sessionRevokedSet(sessionId: string, options: RevokeOptions = {}): Promise<string> {
    const key = options.key ?? this.defaultKey;
    const at = options.at ?? Math.floor(Date.now() / 1000);
    return new SignJWT({
      sub_id: { format: 'complex', session: { format: 'opaque', id: sessionId }, user: { format: 'opaque', id: options.userId ?? 'user-1' } },
      events: { [SESSION_REVOKED]: { event_timestamp: at, reason_admin: { en: 'user_logout' } } },
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: options.typ ?? 'secevent+jwt' })
      .setIssuer(options.iss ?? this.issuer)
      .setAudience(options.aud ?? this.clientId)
      .setJti(randomUUID())
      .setIssuedAt(at)
      .sign(key.privateKey);
  }

  /** Appends a raw event (valid or not) and hands it to every open stream and held poll. */
  append(set: string): void {
    this.events.push(set);
    const frame = `id: c${this.events.length}\ndata: ${set}\n\n`;
    for (const stream of this.streams) stream.write(frame);
    for (const wake of [...this.waiters]) wake();
  }

  /** Event streams and long polls the server is holding open now. */
  get openRequests(): number {
    return this.streams.size + this.waiters.size;
  }

  /** Ends every open event stream, as a restarting proxy or server would. */
  dropStreams(): void {
    for (const stream of this.streams) stream.destroy();
    this.streams.clear();
  }

  /** Stops answering: the port refuses connections until {@link restart}. */
  async stop(): Promise<void> {
    for (const wake of [...this.waiters]) wake();
    this.dropStreams();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.stop();
  }

  private listen(port = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        this.url = `http://127.0.0.1:${this.port}`;
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname === '/.well-known/oauth-authorization-server') return this.json(res, 200, this.metadata());
    if (url.pathname === '/.well-known/jwks.json') {
      this.jwksFetches++;
      if (!this.jwksAvailable) return this.json(res, 503, { statusCode: 503, error: 'service_unavailable', message: 'Try again later.' });
      res.setHeader('cache-control', 'public, max-age=300');
      return this.json(res, 200, { keys: this.keys.filter((k) => this.published.has(k.kid)).map((k) => k.jwk) });
    }
    if (url.pathname === '/auth/revocations') return void this.feed(req, res, url);
    this.json(res, 404, { statusCode: 404, error: 'not_found', message: 'Not found' });
  }

  private metadata(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.url}/.well-known/jwks.json`,
      introspection_endpoint: `${this.url}/auth/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      session_revocation_feed_endpoint: `${this.url}/auth/revocations`,
      ...(this.options.tokenLifetime !== undefined && { access_token_max_lifetime: this.options.tokenLifetime }),
    };
  }

  private async feed(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const accept = req.headers.accept ?? '';
    const lastEventId = req.headers['last-event-id'] as string | undefined;
    this.feedRequests.push({
      accept,
      lastEventId,
      after: url.searchParams.get('after'),
      wait: url.searchParams.get('wait'),
      limit: url.searchParams.get('limit'),
    });
    if (!this.authenticated(req)) {
      res.setHeader('www-authenticate', 'Basic realm="latchkey"');
      return this.json(res, 401, { statusCode: 401, error: 'invalid_client', message: 'Unknown resource server credentials.' });
    }
    const cursor = lastEventId ?? url.searchParams.get('after');
    let position = 0;
    if (cursor !== null) {
      const match = /^c(\d+)$/.exec(cursor);
      if (!match) return this.json(res, 400, { statusCode: 400, error: 'invalid_request', message: 'Malformed cursor.' });
      position = Math.min(Number(match[1]), this.events.length);
    }
    if (accept.includes('text/event-stream') && this.options.sse !== false) return this.stream(res, position);

    const wait = Number(url.searchParams.get('wait') ?? 0);
    if (position === this.events.length && wait > 0) await this.held(req, wait * 1000);
    if (res.destroyed) return;
    const pageSize = Math.min(Number(url.searchParams.get('limit') ?? 500), this.options.pageSize ?? Infinity);
    const events = this.events.slice(position, position + pageSize);
    this.json(res, 200, { events, cursor: `c${position + events.length}`, more: position + events.length < this.events.length });
  }

  private held(req: IncomingMessage, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
      req.socket.once('close', wake);
    });
  }

  private stream(res: ServerResponse, position: number): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(': hello\n\n');
    for (let i = position; i < this.events.length; i++) res.write(`id: c${i + 1}\ndata: ${this.events[i]}\n\n`);
    this.streams.add(res);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), this.options.heartbeatMs ?? 1000);
    res.on('close', () => {
      clearInterval(heartbeat);
      this.streams.delete(res);
    });
  }

  private authenticated(req: IncomingMessage): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
    if (!match) return false;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return colon > 0 && decode(decoded.slice(0, colon)) === this.clientId && decode(decoded.slice(colon + 1)) === this.clientSecret;
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}
