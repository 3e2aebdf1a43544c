import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { draftRoutes } from './journal.draft-routes.js';
import { createDraftsService } from './journal.drafts.js';
import { entryRoutes, immutableEntryRoutes } from './journal.entry-routes.js';
import { createJournalService } from './journal.service.js';

/** The treatment journal (API.md "Journal"): practitioners only; entries never change. */
export const journalRoutes: FastifyPluginAsyncZod<{ lateEntryHours?: number }> = async (
  app,
  options,
) => {
  const journal = createJournalService({
    db: app.db,
    pool: app.pool,
    keys: app.keys,
    audit: app.audit,
    clock: app.clock,
    lateEntryHours: options.lateEntryHours,
  });
  const drafts = createDraftsService({
    db: app.db,
    keys: app.keys,
    audit: app.audit,
    clock: app.clock,
    journal,
  });

  // In this order, as the OpenAPI document lists them.
  entryRoutes(app, journal);
  draftRoutes(app, drafts);
  immutableEntryRoutes(app);
};
