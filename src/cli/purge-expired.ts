import { createClientKeys, createLocalKeyring } from '../crypto/index.js';
import { createDatabase } from '../db/pool.js';
import { createAuditRecorder } from '../modules/audit/audit.recorder.js';
import { createClientsService } from '../modules/clients/clients.service.js';
import { journalRetention } from '../modules/journal/journal.retention.js';
import { createLogger } from '../logger.js';
import { withDatabase, type CliCommand } from './context.js';

/**
 * `npm run cli -- purge-expired [--apply]`: erases (crypto-shreds) the clients whose newest
 * journal entry is older than RETENTION_YEARS and who are not on legal hold. Dry run by
 * default: prints the ids it would erase. With --apply each erasure re-checks the rules under
 * the row lock and commits with its audit event (action client.erase, reason
 * retention_expired).
 */
export const purgeExpiredCommand: CliCommand = {
  summary: 'erase clients whose retention has passed (dry run unless --apply)',
  run: (args) => {
    const unknown = args.filter((arg) => arg !== '--apply');
    if (unknown.length > 0) {
      process.stderr.write(`unknown option ${unknown[0]}; usage: purge-expired [--apply]\n`);
      return Promise.resolve(2);
    }
    const apply = args.includes('--apply');
    return withDatabase(async ({ config, pool }) => {
      const db = createDatabase(pool);
      const audit = createAuditRecorder({ pool, log: createLogger('warn') });
      const clients = createClientsService({
        db,
        keys: createClientKeys({
          db,
          keyring: createLocalKeyring(config.masterKey, config.masterKeysOld),
        }),
        audit,
        retentionYears: config.retentionYears,
        retention: journalRetention,
      });
      try {
        const ids = await clients.expiredClientIds();
        const out = (line: string) => process.stdout.write(`${line}\n`);
        let erased = 0;
        for (const id of ids) {
          if (!apply) {
            out(`would erase ${id}`);
          } else if (await clients.eraseExpired(id)) {
            erased += 1;
            out(`erased ${id}`);
          } else {
            out(`kept ${id} (on hold or retained again)`);
          }
        }
        out(
          apply
            ? `${erased} client(s) erased`
            : `${ids.length} client(s) past retention (${config.retentionYears} years); run with --apply to erase`,
        );
        return 0;
      } finally {
        await audit.close();
      }
    });
  },
};
