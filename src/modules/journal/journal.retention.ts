import type { RetentionSource } from '../clients/clients.service.js';

/**
 * The retention clock of a client: when their newest journal entry was performed. There is
 * no journal table yet (consents and journal come next), so no client has an entry and
 * nothing is retained; the journal module replaces this with a query on its entries.
 */
export const journalRetention: RetentionSource = {
  newestEntryAt: async () => null,
};
