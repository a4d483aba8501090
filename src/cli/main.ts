import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '../config/config';
import { ConfigError } from '../config/parse';
import { CliModule } from './cli.module';
import { COMMANDS } from './commands';

const USAGE = `usage: npm run cli -- <command> [args]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${(name + ' ' + c.args).padEnd(28)} ${c.help}`)
  .join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(USAGE);
    return name ? 64 : 0;
  }
  // The server serves the metrics; a CLI run next to it must not try to take its port.
  const config = { ...loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }), metricsPort: null };
  Logger.overrideLogger(['error', 'warn']);
  if (command.needsApp === false) return command.run({ config }, args);
  const app = await NestFactory.createApplicationContext(CliModule.register(config), { logger: ['error', 'warn'] });
  try {
    return await command.run({ app, config }, args);
  } finally {
    await app.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`latchkey: ${error instanceof ConfigError ? 'configuration error: ' : ''}${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
