import type { INestApplicationContext } from '@nestjs/common';
import { SigningKeysService } from '../auth/signing-keys.service';

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
    args: '',
    help: 'add a new access-token signing key; the old one stays in the JWKS until its tokens expire',
    run: async (app) => {
      const kid = await app.get(SigningKeysService).rotate();
      process.stdout.write(`new signing key: ${kid}\n`);
      return 0;
    },
  },
};
