import { parseArgs } from 'node:util';
import { createLocalKeyring } from '../crypto/index.js';
import { createDatabaseClientKeys } from '../db/key-store.js';
import { createDatabase } from '../db/pool.js';
import { storedChainKeyring } from '../modules/audit/audit.chain-keys.js';
import { createAuditSealer } from '../modules/audit/audit.chain.js';
import { verifyChain, type VerifyOptions } from '../modules/audit/audit.verify.js';
import { withDatabase, type CliCommand } from './context.js';

const USAGE =
  'usage: npm run cli -- verify-audit [--head <position>:<hash>] [--from <time>] [--to <time>] [--seal]';

function parse(args: string[]): (VerifyOptions & { seal: boolean }) | string {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        head: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        seal: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  const options: VerifyOptions & { seal: boolean } = { seal: values.seal };
  if (values.head !== undefined) {
    const match = /^(\d{1,18}):([0-9a-fA-F]{64})$/.exec(values.head);
    if (!match) return '--head must be <position>:<64 hex digits>, as verify printed it';
    options.expectedHead = { position: Number(match[1]), hash: match[2]!.toLowerCase() };
  }
  for (const name of ['from', 'to'] as const) {
    const value = values[name];
    if (value === undefined) continue;
    const date = new Date(value);
    if (Number.isNaN(date.getTime()))
      return `--${name} must be a date-time, e.g. 2030-01-31T00:00:00Z`;
    options[name] = date;
  }
  return options;
}

/**
 * Recomputes the audit chain from the database with the chain key the keyring owns (and, for
 * links sealed before it did, the keys derived from MASTER_KEY and MASTER_KEYS_OLD); prints the result as JSON (keep `head` somewhere the database's
 * administrators cannot write) and exits 1 when anything does not match. Read-only unless
 * `--seal` (then it first chains the events committed but not yet sealed).
 */
export const verifyAuditCommand: CliCommand = {
  summary: 'verify the tamper-evident audit chain (exit 1 on tamper); --head <position>:<hash>',
  run: async (args) => {
    const options = parse(args);
    if (typeof options === 'string') {
      process.stderr.write(`${options}\n${USAGE}\n`);
      return 2;
    }
    return withDatabase(async ({ config, pool }) => {
      const door = createDatabaseClientKeys({
        db: createDatabase(pool),
        keyring: createLocalKeyring(config.masterKey, config.masterKeysOld),
      });
      const keys = storedChainKeyring(config, () => door.chainKey());
      if (options.seal) await createAuditSealer({ pool, keys }).sealNow();
      const result = await verifyChain(pool, keys, options);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      if (!result.ok) {
        process.stderr.write(
          `audit chain does NOT verify: ${result.firstBad?.problem ?? 'unknown problem'}` +
            ` (position ${result.firstBad?.position ?? '-'}, event ${result.firstBad?.eventId ?? '-'})\n`,
        );
        return 1;
      }
      process.stderr.write(
        `audit chain verifies: ${result.checked} link(s)` +
          (result.head ? `, head ${result.head.position}:${result.head.hash}` : '') +
          (result.pending > 0 ? `, ${result.pending} event(s) not sealed yet` : '') +
          '\n',
      );
      return 0;
    });
  },
};
