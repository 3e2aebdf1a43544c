import { sql } from 'drizzle-orm';
import type { RetentionSource } from '../clients/clients.erasure.js';
import { journalRepository } from './journal.repository.js';

/**
 * The retention clock of a client: when their newest journal entry was performed. Erasure is
 * refused until RETENTION_YEARS after it (clients.service.ts).
 */
export const journalRetention: RetentionSource = {
  newestEntryAt: (executor, clientId) => journalRepository.newestPerformedAt(executor, clientId),
  clientsWithNewestEntryBefore: async (executor, cutoff) => {
    const { rows } = await executor.execute<{ id: string }>(sql`
      SELECT c.id::text AS id FROM clients c
      JOIN journal_entries j ON j.client_id = c.id
      WHERE c.erased_at IS NULL AND NOT c.legal_hold
      GROUP BY c.id
      HAVING max(j.performed_at) < ${cutoff.toISOString()}::timestamptz
      ORDER BY c.id`);
    return rows.map((row) => row.id);
  },
};
