import type { INestApplicationContext } from '@nestjs/common';
import type { AppConfig } from '../config/config';
import { SYSTEM_ACTOR } from '../common/client-context';
import { Clock } from '../common/clock';
import { emailProblem, normalizeEmail } from '../common/email';
import { passwordPolicyError } from '../common/password-policy';
import { openDatabase } from '../database/database.module';
import { MIGRATIONS } from '../database/data-source';
import { ACTIVATION_DELAY_MS, SigningKeysService } from '../auth/signing-keys.service';
import { AdminService } from '../admin/admin.service';
import { AccountDeletion } from '../account/account-deletion';
import { FactorsService } from '../mfa/factors.service';
import { UsersService } from '../users/users.service';
import type { User } from '../users/user.entity';
import { ResourceServersService } from '../resource-servers/resource-servers.service';
import { isUuid } from '../common/ids';
import { iso } from '../common/time';
import { SIGNING_ALGS, SigningAlg } from '../common/jws';

export interface Command {
  args: string;
  help: string;
  /** Without `app`: the command opens what it needs itself (only migrate). */
  run(context: { app?: INestApplicationContext; config: AppConfig }, args: string[]): Promise<number>;
  /** False: run without the application context. */
  needsApp?: boolean;
}

const app = (context: { app?: INestApplicationContext }): INestApplicationContext => context.app!;

/** Operator commands. Each gets the application context (database migrated and ready), except migrate. */
export const COMMANDS: Record<string, Command> = {
  migrate: {
    args: '',
    help: 'create the MySQL database if missing and apply pending migrations',
    needsApp: false,
    run: async ({ config }) => {
      const { dataSource, applied } = await openDatabase(config);
      await dataSource.destroy();
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : `nothing to apply; all ${MIGRATIONS.length} migrations are in place\n`);
      return 0;
    },
  },
  'keys:rotate': {
    args: '[--immediate] [--alg RS256|ES256|EdDSA]',
    help: 'add a signing key (of JWT_ALG unless --alg): published now, signing in 6 min (--immediate: now); old keys stay in the JWKS until their tokens expire',
    run: async (context, args) => {
      const immediate = args.includes('--immediate');
      const algIndex = args.indexOf('--alg');
      const alg = algIndex >= 0 ? args[algIndex + 1] : undefined;
      if (alg !== undefined && !SIGNING_ALGS.includes(alg as SigningAlg)) throw new Error(`--alg must be one of ${SIGNING_ALGS.join(', ')}`);
      const kid = await app(context)
        .get(SigningKeysService)
        .rotate({ immediate, alg: alg as SigningAlg | undefined });
      process.stdout.write(
        `new signing key: ${kid} (${immediate ? 'signing now' : `in the JWKS now, signing from ${new Date(app(context).get(Clock).now() + ACTIVATION_DELAY_MS).toISOString()}`})\n`,
      );
      return 0;
    },
  },
  'keys:revoke': {
    args: '<kid>',
    help: 'take a signing key out of service at once (suspected compromise): out of the JWKS and verification everywhere; every token it signed stops working',
    run: async (context, args) => {
      if (!args[0]) throw new Error('a kid is required (see /.well-known/jwks.json), e.g.: npm run cli -- keys:revoke <kid>');
      const { replacement } = await app(context).get(SigningKeysService).revoke(args[0]);
      process.stdout.write(`revoked ${args[0]}${replacement ? `; new signing key ${replacement} signs from now on` : ''}\n`);
      return 0;
    },
  },
  'create-admin': {
    args: '<email>',
    help: 'create an administrator; the password is read from stdin, or prompted for without echo on a terminal',
    run: async (context, args) => {
      const email = requireEmail(args);
      const users = app(context).get(UsersService);
      if (await users.findByEmail(email)) {
        process.stderr.write(`latchkey: ${email} already exists; use: npm run cli -- promote ${email}\n`);
        return 1;
      }
      const password = await readPassword();
      const problem = passwordPolicyError(password);
      if (problem) {
        process.stderr.write(`latchkey: ${problem}\n`);
        return 1;
      }
      const user = await users.create({ email, password, name: null, role: 'admin', emailVerified: true }, SYSTEM_ACTOR);
      process.stdout.write(`created administrator ${user.email} (${user.id})\n`);
      return 0;
    },
  },
  promote: {
    args: '<email>',
    help: 'make an existing user an administrator (records user_promoted)',
    run: async (context, args) => {
      const { user } = await app(context).get(AdminService).setRole(requireEmail(args), 'admin', SYSTEM_ACTOR);
      process.stdout.write(`${user.email} is an administrator; new sign-ins and refreshes carry the admin role\n`);
      return 0;
    },
  },
  'mfa:reset': {
    args: '<email>',
    help: 'remove every second factor, recovery code and trusted device of a user and sign out their devices (mfa_reset), e.g. a sole admin who lost their phone; the user is mailed',
    run: async (context, args) => {
      const user = await existingUser(context, args);
      if (!user) return 1;
      const removed = await app(context).get(FactorsService).reset(user.id, SYSTEM_ACTOR);
      process.stdout.write(
        `${user.email}: ${removed} second factor(s) removed, every session signed out; they can sign in with their password and set up a new one\n`,
      );
      return 0;
    },
  },
  demote: {
    args: '<email>',
    help: 'make an administrator an ordinary user and sign out their devices; refuses the last administrator',
    run: async (context, args) => {
      const { user, signedOut } = await app(context).get(AdminService).setRole(requireEmail(args), 'user', SYSTEM_ACTOR);
      process.stdout.write(`${user.email} is an ordinary user; ${signedOut} session(s) signed out\n`);
      return 0;
    },
  },
  'users:delete': {
    args: '<email>',
    help: 'delete an account as DELETE /admin/users/:id does: every session revoked (account_deleted), factors, links and pending mail gone, its audit events stripped of e-mail, IP and user agent; refuses the last administrator; the user is mailed',
    run: async (context, args) => {
      const user = await existingUser(context, args);
      if (!user) return 1;
      await app(context).get(AccountDeletion).deleteByAdmin(user.id, SYSTEM_ACTOR, 'operator');
      process.stdout.write(`${user.email} (${user.id}) deleted; every session signed out\n`);
      return 0;
    },
  },
  'resource-servers:add': {
    args: '<name>',
    help: 'register a resource server; prints its client_id and client_secret (shown this once)',
    run: async (context, args) => {
      const name = args.join(' ').trim();
      if (!name || name.length > 100 || /\p{Cc}/u.test(name))
        throw new Error('a name of 1 to 100 characters is required, e.g.: npm run cli -- resource-servers:add orders-api');
      const added = await app(context).get(ResourceServersService).add(name, SYSTEM_ACTOR);
      process.stdout.write(`client_id=${added.clientId}\nclient_secret=${added.clientSecret}\n`);
      process.stderr.write('Keep the secret now: only a hash of it is stored.\n');
      return 0;
    },
  },
  'resource-servers:list': {
    args: '',
    help: 'list the registered resource servers',
    run: async (context) => {
      for (const s of await app(context).get(ResourceServersService).list()) process.stdout.write(`${s.clientId}  ${iso(s.createdAt)}  ${s.name}\n`);
      return 0;
    },
  },
  'resource-servers:remove': {
    args: '<client_id>',
    help: 'remove a resource server; its credentials stop working',
    run: async (context, args) => {
      if (!isUuid(args[0])) throw new Error('a client_id is required, e.g.: npm run cli -- resource-servers:remove 0193…');
      await app(context).get(ResourceServersService).remove(args[0], SYSTEM_ACTOR);
      process.stdout.write(`removed ${args[0]}\n`);
      return 0;
    },
  },
};

/** The user the first argument names, or null (and a line on stderr) when there is none. */
async function existingUser(context: { app?: INestApplicationContext }, args: string[]): Promise<User | null> {
  const email = requireEmail(args);
  const user = await app(context).get(UsersService).findByEmail(email);
  if (!user) process.stderr.write(`latchkey: no user ${email}\n`);
  return user;
}

function requireEmail(args: string[]): string {
  const problem = emailProblem(args[0] ?? '');
  if (problem) throw new Error(`an e-mail address is required (the argument ${problem}), e.g.: npm run cli -- create-admin ada@example.com`);
  return normalizeEmail(args[0]);
}

/**
 * The password comes from stdin when it is a pipe or a file (the first line, for scripts and
 * CI), and is prompted for twice with no echo on a terminal. It never appears in argv or logs.
 */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  const first = await promptHidden('Password: ');
  const second = await promptHidden('Repeat password: ');
  if (first !== second) throw new Error('the passwords do not match');
  return first;
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
