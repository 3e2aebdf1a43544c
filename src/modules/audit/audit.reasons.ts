import {
  DataKeyNotFound,
  DecryptionFailed,
  textField,
  type ClientKeys,
} from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import type { AuditRow } from './audit.event.js';

/**
 * Free-text reasons on audit events (a break-glass reason: whatever the practitioner typed,
 * perhaps a name or a condition) are sealed under the client's data key, so erasing the client
 * destroys them like the rest of the client's data, while the event itself (ids, times,
 * outcome) stays. Stored in `audit_events.reason` as "sealed:" + base64 of the envelope, bound
 * to the event id; the chain covers that text like any other.
 */
export const SEALED_REASON_PREFIX = 'sealed:';
const REASON = textField('audit_events', 'reason');

/** Seals the free-text reasons of `rows` in place (a row without a client loses its text). */
export type ReasonSealer = (executor: Executor | undefined, rows: AuditRow[]) => Promise<void>;

export function createReasonSealer(keys: Pick<ClientKeys<Executor>, 'cipherFor'>): ReasonSealer {
  return async (executor, rows) => {
    for (const row of rows) {
      if (!row.freeTextReason || row.reason === null) continue;
      row.freeTextReason = false;
      if (row.clientId === null) {
        row.reason = null;
        continue;
      }
      try {
        const cipher = await keys.cipherFor(executor, row.clientId);
        row.reason =
          SEALED_REASON_PREFIX + cipher.seal(REASON, row.id, row.reason).toString('base64');
      } catch (error) {
        if (!(error instanceof DataKeyNotFound)) throw error;
        row.reason = null; // no key: nothing the text could be sealed under
      }
    }
  };
}

/**
 * Opens the sealed reasons of events read back (audit queries, access logs, subject exports):
 * the text while the client exists, null once they are erased.
 */
export async function openReasons<
  E extends { reason: string | null; clientId: string | null; id: string },
>(keys: Pick<ClientKeys<Executor>, 'cipherFor'>, events: E[]): Promise<E[]> {
  const opened: E[] = [];
  for (const event of events) {
    if (!event.reason?.startsWith(SEALED_REASON_PREFIX) || event.clientId === null) {
      opened.push(event);
      continue;
    }
    let reason: string | null = null;
    try {
      const cipher = await keys.cipherFor(undefined, event.clientId);
      const sealed = Buffer.from(event.reason.slice(SEALED_REASON_PREFIX.length), 'base64');
      reason = cipher.open(REASON, event.id, sealed);
    } catch (error) {
      if (!(error instanceof DataKeyNotFound) && !(error instanceof DecryptionFailed)) throw error;
    }
    opened.push({ ...event, reason });
  }
  return opened;
}
