import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import { Clock } from '../common/clock';
import type { Actor } from '../common/client-context';
import { isUuid, uuidv7 } from '../common/ids';
import { subkey } from '../common/sealed';
import { DatabaseService } from '../database/database.service';
import { AuditService } from '../audit/audit.service';
import { ResourceServer } from './resource-server.entity';
import { ResourceServersRepository } from './resource-servers.repository';

/** A resource server as listed: never its secret or hash. */
export interface ResourceServerInfo {
  clientId: string;
  name: string;
  createdAt: number;
}

/** Secrets carry a prefix so that secret scanners (and people) recognise a leaked one. */
const SECRET_PREFIX = 'lkrs_';
/** A verified credential is trusted this long without asking the database again. */
const CREDENTIAL_CACHE_MS = 5_000;
const CREDENTIAL_CACHE_MAX = 1000;

/**
 * Resource-server credentials and their registry. The secret (256 random bits) is shown once
 * and stored as HMAC-SHA256 under a key derived from KEY_ENCRYPTION_KEY: a fast keyed hash is
 * enough for a secret that cannot be guessed, and a leaked table alone cannot be checked
 * against guesses. Argon2 would cost every feed poll and introspection ~10 ms.
 */
@Injectable()
export class ResourceServersService {
  private readonly hashKey: Buffer;
  /** Authorization header → the server it proved to be, until when. Successes only, bounded. */
  private readonly verified = new Map<string, { server: ResourceServerInfo; until: number }>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly database: DatabaseService,
    private readonly repository: ResourceServersRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {
    this.hashKey = subkey(config.keyEncryptionKey, 'latchkey resource-server secrets');
  }

  /** Registers a resource server; the secret in the answer is never available again. */
  async add(name: string, actor: Actor): Promise<ResourceServerInfo & { clientSecret: string }> {
    const now = this.clock.now();
    const clientSecret = SECRET_PREFIX + randomBytes(32).toString('base64url');
    const server: ResourceServer = { clientId: uuidv7(now), name, secretHash: this.hash(clientSecret), createdAt: now, createdBy: actor.actorId };
    await this.database.transaction(async (db) => {
      await this.repository.insert(server, db);
      await this.audit.record({ type: 'resource_server_added', ...actor, details: { clientId: server.clientId, name } }, db);
    });
    return { clientId: server.clientId, name, createdAt: now, clientSecret };
  }

  async list(): Promise<ResourceServerInfo[]> {
    return (await this.repository.list()).map(info);
  }

  /** Removes a resource server: its credentials stop working (within CREDENTIAL_CACHE_MS on other instances). */
  async remove(clientId: string, actor: Actor): Promise<void> {
    const removed = await this.database.transaction(async (db) => {
      const server = await this.repository.remove(clientId, db);
      if (server) await this.audit.record({ type: 'resource_server_removed', ...actor, details: { clientId, name: server.name } }, db);
      return server;
    });
    if (!removed) throw ApiError.notFound('No such resource server.');
    for (const [key, entry] of this.verified) if (entry.server.clientId === clientId) this.verified.delete(key);
  }

  /**
   * HTTP Basic (client_secret_basic, RFC 6749 §2.3.1): the resource server behind an
   * Authorization header, or 401 invalid_client. The secret is compared in constant time.
   */
  async authenticate(authorization: string | undefined): Promise<ResourceServerInfo> {
    if (!authorization) throw invalidClient('Authenticate with HTTP Basic: your client_id and client_secret.');
    const now = this.clock.now();
    const cached = this.verified.get(authorization);
    if (cached && cached.until > now) return cached.server;
    const credentials = parseBasic(authorization);
    if (!credentials) throw invalidClient('The Authorization header is not valid HTTP Basic.');
    const server = isUuid(credentials.clientId) ? await this.repository.find(credentials.clientId) : null;
    const expected = Buffer.from(server?.secretHash ?? this.hash('no such server'), 'base64url');
    const presented = Buffer.from(this.hash(credentials.secret), 'base64url');
    if (!timingSafeEqual(expected, presented) || !server) throw invalidClient('Unknown client_id or wrong client_secret.');
    if (this.verified.size >= CREDENTIAL_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(authorization, { server: info(server), until: now + CREDENTIAL_CACHE_MS });
    return info(server);
  }

  /** Which of these servers are still registered (the open feed streams re-check theirs in one query). */
  async registered(clientIds: string[]): Promise<Set<string>> {
    return new Set(await this.repository.existing(clientIds));
  }

  private hash(secret: string): string {
    return createHmac('sha256', this.hashKey).update(secret).digest('base64url');
  }
}

function info(server: ResourceServer): ResourceServerInfo {
  return { clientId: server.clientId, name: server.name, createdAt: server.createdAt };
}

export function invalidClient(description: string): ApiError {
  return new ApiError(401, 'invalid_client', description, { error_description: description }, { 'www-authenticate': 'Basic realm="latchkey"' });
}

/** `Basic base64(urlencode(id):urlencode(secret))`; null when it is not that. */
function parseBasic(header: string): { clientId: string; secret: string } | null {
  const match = /^Basic +([A-Za-z0-9+/]{4,512}={0,2}) *$/i.exec(header);
  if (!match) return null;
  const text = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  try {
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return { clientId: decode(text.slice(0, colon)), secret: decode(text.slice(colon + 1)) };
  } catch {
    return null;
  }
}
