/**
 * Operator commands: `npm run cli -- <command> [options]` (or `npm run migrate`).
 * Each command lives in src/cli/<name>.ts and is listed here once.
 */
import { ConfigError } from './config.js';
import type { CliCommand } from './cli/context.js';
import { createUserCommand } from './cli/create-user.js';
import { purgeExpiredCommand } from './cli/purge-expired.js';
import { migrateCommand } from './cli/migrate.js';
import { rotateMasterKeyCommand } from './cli/rotate-master-key.js';
import { verifyAuditCommand } from './cli/verify-audit.js';

const commands: Record<string, CliCommand> = {
  migrate: migrateCommand,
  'create-user': createUserCommand,
  'rotate-master-key': rotateMasterKeyCommand,
  'verify-audit': verifyAuditCommand,
  'purge-expired': purgeExpiredCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(
      `usage: npm run cli -- <command>\n\n${Object.entries(commands)
        .map(([key, value]) => `  ${key.padEnd(20)} ${value.summary}`)
        .join('\n')}\n`,
    );
    return name ? 2 : 0;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message =
      error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`${message}\n`);
    process.exit(1);
  },
);
