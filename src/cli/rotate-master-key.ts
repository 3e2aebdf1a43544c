import { SYSTEM_CONTEXT } from '../access/context.js';
import { createLocalKeyring } from '../crypto/index.js';
import { createDatabase } from '../db/pool.js';
import { createLogger } from '../logger.js';
import { createAuditRecorder } from '../modules/audit/audit.recorder.js';
import { withDatabase, type CliCommand } from './context.js';
import { createDatabaseClientKeys } from '../db/key-store.js';

/**
 * `npm run cli -- rotate-master-key [--batch-size N]`: with the new key in MASTER_KEY and the
 * old ones in MASTER_KEYS_OLD, re-wraps every data key (and the blind-index key) under the
 * new one. Online: readers are not blocked; run it again at any time, it only does what is
 * left. Exits 1 while any key is still under another master key.
 */
export const rotateMasterKeyCommand: CliCommand = {
  summary: 're-wrap every data key under MASTER_KEY (then MASTER_KEYS_OLD can be retired)',
  run: (args) => {
    let batchSize = 500;
    const flag = args.indexOf('--batch-size');
    if (flag !== -1) {
      batchSize = Number(args[flag + 1]);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
        process.stderr.write('--batch-size must be an integer from 1 to 10000\n');
        return Promise.resolve(2);
      }
    }
    return withDatabase(async ({ config, pool }) => {
      const keyring = createLocalKeyring(config.masterKey, config.masterKeysOld);
      const keys = createDatabaseClientKeys({ db: createDatabase(pool), keyring });
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`rotating to master key ${keyring.currentId} in batches of ${batchSize}`);
      const result = await keys.rewrapAll({
        batchSize,
        onProgress: ({ pass, kind, rewrapped, unreadable }) =>
          out(`${kind} pass ${pass}: ${rewrapped} re-wrapped, ${unreadable} unreadable`),
      });
      out(
        `done: ${result.rewrapped} key(s) re-wrapped under ${result.kekId}; ` +
          `${result.remaining} remain under other master keys` +
          (result.unreadable > 0
            ? ` (${result.unreadable} cannot be unwrapped by any configured key: is a key missing from MASTER_KEYS_OLD?)`
            : ''),
      );
      for (const [kind, counts] of Object.entries(result.byKind)) {
        out(
          `  ${kind}: ${counts.rewrapped} re-wrapped, ${counts.unreadable} unreadable, ${counts.remaining} remaining`,
        );
      }
      // Key management is audited like data access: which master key, and whether it is done.
      const audit = createAuditRecorder({ pool, log: createLogger('warn') });
      try {
        await audit.record(SYSTEM_CONTEXT, [
          {
            action: 'keys.rotate',
            outcome: result.remaining === 0 ? 'success' : 'failure',
            resourceType: 'master_key',
            resourceId: result.kekId,
          },
        ]);
      } finally {
        await audit.close();
      }
      if (result.remaining === 0) {
        out('every key is under the current master key: older versions may be retired');
        return 0;
      }
      return 1;
    });
  },
};
