import { grantRuntimeRole, roleOf } from '../db/grants.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { withDatabase, type CliCommand } from './context.js';

export const migrateCommand: CliCommand = {
  summary: 'apply pending migrations (as MIGRATION_DATABASE_URL when set, then grant DATABASE_URL)',
  run: () =>
    withDatabase(async ({ pool, ownerUrl, url }) => {
      const out = (line: string) => process.stdout.write(`${line}\n`);
      if (!ownerUrl) {
        const applied = await migrate(pool, undefined, out);
        out(`${applied.length} migration(s) applied; schema up to date`);
        return 0;
      }
      const owner = createPool(ownerUrl, {
        max: 1,
        applicationName: 'journal-migrate',
      });
      try {
        const applied = await migrate(owner, undefined, out);
        await grantRuntimeRole(owner, roleOf(url));
        out(`${applied.length} migration(s) applied; schema up to date`);
        out(`granted ${roleOf(url)} data rights only`);
        return 0;
      } finally {
        await owner.end();
      }
    }),
};
