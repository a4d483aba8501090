import { spawn, ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { freePort } from './faults';
import { freshDatabase, REDIS_URL, testEnv, TestApp, TestDatabase } from './app';
import { Http, login, Tokens } from './http';
import { addResourceServer } from './resource-servers';

const DIST = join(__dirname, '../..');

/** A real process (latchkey or a resource server) on a fixed port, so it can be restarted in place. */
export class ServiceProcess {
  private child?: ChildProcess;
  output = '';

  constructor(
    readonly name: string,
    /** Relative to dist/, or absolute. */
    private readonly script: string,
    readonly port: number,
    private env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until `readyPath` answers (any status but a refused connection). */
  async start(readyPath = '/health', timeoutMs = 30_000): Promise<this> {
    this.output = '';
    const child = spawn(process.execPath, [resolve(DIST, this.script)], {
      env: { ...process.env, ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.output += d.toString()));
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${this.name} exited (${child.exitCode}): ${this.output.slice(-2000)}`);
      try {
        await fetch(this.url + readyPath);
        return this;
      } catch {
        // not listening yet
      }
      if (Date.now() - started > timeoutMs) {
        child.kill('SIGKILL');
        throw new Error(`${this.name} did not start: ${this.output.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL: no shutdown hooks, no goodbyes; waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  setEnv(env: Record<string, string>): void {
    this.env = { ...this.env, ...env };
  }
}

/** The operator's CLI, as a process of its own against `app`'s database and configuration, given `stdin` (then its end). */
export function runCli(app: TestApp, args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(DIST, 'src/cli/main.js'), ...args], {
      env: { ...process.env, ...app.env, LOG_LEVEL: 'error' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** `node dist/src/main.js` on a free port, its JWT_ISSUER its own URL unless given. */
export async function latchkeyProcess(database: TestDatabase, env: Record<string, string> = {}, port?: number): Promise<ServiceProcess> {
  const p = port ?? (await freePort());
  return new ServiceProcess('latchkey', 'src/main.js', p, {
    ...testEnv(database, { LOG_LEVEL: 'warn', JWT_ISSUER: `http://127.0.0.1:${p}`, ...env }),
    PORT: String(p),
  });
}

/**
 * The example resource server (examples/resource-server) with the verifier, following `latchkey`:
 * the repository's build, or `script`, the same example compiled elsewhere (the packaging test).
 */
export async function resourceServerProcess(
  latchkeyUrl: string,
  credentials: { clientId: string; clientSecret: string },
  env: Record<string, string> = {},
  script = 'examples/resource-server/server.js',
): Promise<ServiceProcess> {
  return new ServiceProcess('resource server', script, await freePort(), {
    LATCHKEY_URL: latchkeyUrl,
    LATCHKEY_CLIENT_ID: credentials.clientId,
    LATCHKEY_CLIENT_SECRET: credentials.clientSecret,
    ...env,
  });
}

/**
 * Two latchkey processes (not started) on one database and with one issuer (B's address, the one
 * clients use), hearing of each other's revocations by polling the database every second, or by
 * Redis (under a prefix of their own) with the poll turned down to once a minute.
 */
export async function twoInstances(
  database: TestDatabase,
  mode: 'polling only' | 'with Redis',
  env: Record<string, string> = {},
): Promise<[a: ServiceProcess, b: ServiceProcess]> {
  const portB = await freePort();
  const shared = {
    ...env,
    JWT_ISSUER: `http://127.0.0.1:${portB}`,
    REVOCATION_POLL_MS: mode === 'with Redis' ? '60000' : '1000',
    ...(mode === 'with Redis' ? { REDIS_URL, REDIS_KEY_PREFIX: `lktest:${randomBytes(4).toString('hex')}:` } : {}),
  };
  return [await latchkeyProcess(database, shared), await latchkeyProcess(database, shared, portB)];
}

/** What the example resource server answers for a bearer token. */
export async function atResourceServer(rs: ServiceProcess, accessToken: string): Promise<number> {
  return (await fetch(`${rs.url}/orders`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

/** The processes' own logs (never tokens), for a failure message worth reading. */
export const logsOf = (processes: ServiceProcess[]): string => processes.map((p) => `--- ${p.name} :${p.port}\n${p.output.slice(-3000)}`).join('\n');

/**
 * Runs `body` against two instances (`twoInstances`) on a fresh database and a resource server
 * following B, registered by A's admin (signed in by `signIn`); then stops them all and drops the
 * database, however `body` ended.
 */
export async function withTwoInstancesAndResourceServer(
  mode: 'polling only' | 'with Redis',
  admin: { ADMIN_EMAIL: string; ADMIN_PASSWORD: string },
  body: (setup: { a: ServiceProcess; b: ServiceProcess; rs: ServiceProcess; httpA: Http; httpB: Http; admin: Tokens }) => Promise<void>,
  signIn: (http: Http, email: string, password: string) => Promise<Tokens> = login,
): Promise<void> {
  const db = freshDatabase();
  const [a, b] = await twoInstances(db, mode, admin);
  let rs: ServiceProcess | undefined;
  try {
    await a.start();
    await b.start();
    const [httpA, httpB] = [new Http(a.url), new Http(b.url)];
    const adminTokens = await signIn(httpA, admin.ADMIN_EMAIL, admin.ADMIN_PASSWORD);
    rs = await (await resourceServerProcess(b.url, await addResourceServer(httpA, adminTokens.access_token))).start();
    await body({ a, b, rs, httpA, httpB, admin: adminTokens });
  } finally {
    await rs?.stop();
    await b.stop();
    await a.stop();
    await db.drop();
  }
}
