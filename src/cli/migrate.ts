import { migrate } from '../db/migrate.js';
import { withDatabase, type CliCommand } from './context.js';

export const migrateCommand: CliCommand = {
  summary: 'apply pending migrations',
  run: () =>
    withDatabase(async ({ pool }) => {
      const applied = await migrate(pool, undefined, (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(`${applied.length} migration(s) applied; schema up to date\n`);
      return 0;
    }),
};
