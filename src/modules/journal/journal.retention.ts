import type { RetentionSource } from '../clients/clients.service.js';
import { journalRepository } from './journal.repository.js';

/**
 * The retention clock of a client: when their newest journal entry was performed. Erasure is
 * refused until RETENTION_YEARS after it (clients.service.ts).
 */
export const journalRetention: RetentionSource = {
  newestEntryAt: (executor, clientId) => journalRepository.newestPerformedAt(executor, clientId),
};
