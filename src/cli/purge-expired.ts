import { createLocalKeyring } from '../crypto/index.js';
import { createDatabase } from '../db/pool.js';
import { pruneCredentials } from '../modules/auth/auth.housekeeping.js';
import { createAuditRecorder } from '../modules/audit/audit.recorder.js';
import { createClientsService } from '../modules/clients/clients.service.js';
import { journalRetention } from '../modules/journal/journal.retention.js';
import { purgeExpired as pruneIdempotencyKeys } from '../modules/idempotency/idempotency.repository.js';
import { createLogger } from '../logger.js';
import { withDatabase, type CliCommand } from './context.js';
import { createDatabaseClientKeys } from '../db/key-store.js';
import {
  createAttachmentStore,
  erasedContentRemover,
} from '../modules/attachments/attachments.stores.js';

/** Content younger than this may belong to an upload still running: never swept. */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000;

/**
 * `npm run cli -- purge-expired [--apply]`: erases (crypto-shreds) the clients whose every
 * journal entry is past its retention (its template's retentionYears, else RETENTION_YEARS)
 * and who are not on legal hold. Dry run by
 * default: prints the ids it would erase. With --apply each erasure re-checks the rules under
 * the row lock and commits with its audit event (action client.erase, reason
 * retention_expired). It also prunes credentials that can no longer be used: ended sessions
 * (and their refresh tokens), old login throttle counters, spent TOTP codes and expired
 * Idempotency-Key rows (24 hours). With an S3 attachment store it sweeps objects that belong
 * to no attachment row (left by a crash between an erasure's commit and its object deletes,
 * or by an upload that rolled back) once they are an hour old.
 */
export const purgeExpiredCommand: CliCommand = {
  summary: 'erase clients past retention, prune ended sessions (dry run unless --apply)',
  run: (args) => {
    const unknown = args.filter((arg) => arg !== '--apply');
    if (unknown.length > 0) {
      process.stderr.write(`unknown option ${unknown[0]}; usage: purge-expired [--apply]\n`);
      return Promise.resolve(2);
    }
    const apply = args.includes('--apply');
    return withDatabase(async ({ config, pool }) => {
      const db = createDatabase(pool);
      const log = createLogger('warn');
      const audit = createAuditRecorder({ pool, log });
      const store = createAttachmentStore(config.attachmentStore, db);
      const clients = createClientsService({
        attachmentContent: erasedContentRemover(store, log),
        db,
        keys: createDatabaseClientKeys({
          db,
          keyring: createLocalKeyring(config.masterKey, config.masterKeysOld),
        }),
        audit,
        retentionYears: config.retentionYears,
        retention: journalRetention,
        clock: () => new Date(),
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
        const leftovers = await pruneCredentials(db, new Date(), apply);
        const keys = await pruneIdempotencyKeys(db, new Date(), apply);
        const orphans = await store.sweepOrphans(db, new Date(Date.now() - ORPHAN_GRACE_MS), apply);
        out(
          `${apply ? 'pruned' : 'would prune'} ${leftovers.sessions} ended session(s), ` +
            `${leftovers.throttleCounters} login throttle counter(s), ${leftovers.usedTotpCodes} spent TOTP code(s), ` +
            `${keys} expired Idempotency-Key(s) (older than 24 hours), ` +
            `${orphans} orphaned attachment(s) in the ${store.kind} store`,
        );
        out(
          apply
            ? `${erased} client(s) erased`
            : `${ids.length} client(s) past retention (${config.retentionYears} years); run with --apply to erase`,
        );
        return 0;
      } finally {
        await audit.close();
        await store.close();
      }
    });
  },
};
