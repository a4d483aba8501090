import type { INestApplicationContext } from '@nestjs/common';
import { ACTIVATION_DELAY_MS, SigningKeysService } from '../auth/signing-keys.service';
import { UsersService } from '../users/users.service';
import { SessionsService } from '../sessions/sessions.service';
import { passwordPolicyError } from '../users/password.service';
import { normalizeEmail } from '../users/email';

export interface Command {
  args: string;
  help: string;
  run(app: INestApplicationContext, args: string[]): Promise<number>;
}

/** Operator commands. Each gets the application context (database migrated and ready). */
export const COMMANDS: Record<string, Command> = {
  migrate: {
    args: '',
    help: 'create the MySQL database if missing and apply pending migrations',
    // Opening the application context already did both.
    run: async () => {
      process.stdout.write('migrations are up to date\n');
      return 0;
    },
  },
  'keys:rotate': {
    args: '[--immediate]',
    help: 'add a signing key: published now, signing in 6 min (--immediate: now); old keys stay in the JWKS until their tokens expire',
    run: async (app, args) => {
      const immediate = args.includes('--immediate');
      const kid = await app.get(SigningKeysService).rotate({ immediate });
      process.stdout.write(`new signing key: ${kid} (${immediate ? 'signing now' : `in the JWKS now, signing from ${new Date(Date.now() + ACTIVATION_DELAY_MS).toISOString()}`})\n`);
      return 0;
    },
  },
  'create-admin': {
    args: '<email>',
    help: 'create an administrator; the password is read from stdin, or prompted for without echo on a terminal',
    run: async (app, args) => {
      const email = requireEmail(args);
      const users = app.get(UsersService);
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
      const user = await users.create({ email, password, name: null, role: 'admin' }, null);
      process.stdout.write(`created administrator ${user.email} (${user.id})\n`);
      return 0;
    },
  },
  promote: {
    args: '<email>',
    help: 'make an existing user an administrator (records user_promoted)',
    run: async (app, args) => {
      const user = await app.get(UsersService).promote(requireEmail(args));
      process.stdout.write(`${user.email} is an administrator; new sign-ins carry the admin role\n`);
      return 0;
    },
  },
  demote: {
    args: '<email>',
    help: 'make an administrator an ordinary user and sign out their devices; refuses the last administrator',
    run: async (app, args) => {
      const user = await app.get(UsersService).demote(requireEmail(args));
      // Access tokens carry the role: sign the devices out so the admin claim dies now.
      const revoked = await app.get(SessionsService).revoke({ userId: user.id }, 'admin_revoked', {});
      process.stdout.write(`${user.email} is an ordinary user; ${revoked.length} session(s) signed out\n`);
      return 0;
    },
  },
};

function requireEmail(args: string[]): string {
  const email = args[0] ? normalizeEmail(args[0]) : '';
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) throw new Error('an e-mail address is required, e.g.: npm run cli -- create-admin ada@example.com');
  return email;
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
