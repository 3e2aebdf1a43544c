import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { MethodNotAllowed } from '../../errors.js';
import { timeIdCursor } from '../../schemas/cursor.js';
import {
  AUTHENTICATED_PROBLEMS,
  BODY_PROBLEMS,
  problemResponses,
} from '../../schemas/responses.js';
import {
  amendmentSchema,
  clientJournalParams,
  createAmendmentSchema,
  createEntrySchema,
  entryPageSchema,
  entryParams,
  entrySchema,
  listEntriesQuery,
} from './journal.schemas.js';
import { createJournalService } from './journal.service.js';

/** The treatment journal (API.md "Journal"): practitioners only; entries never change. */
export const journalRoutes: FastifyPluginAsyncZod = async (app) => {
  const journal = createJournalService({
    db: app.db,
    pool: app.pool,
    keys: app.keys,
    audit: app.audit,
    clock: app.clock,
  });

  app.post(
    '/v1/clients/:id/journal',
    {
      config: { permission: 'journal.write', idempotent: true },
      schema: {
        tags: ['journal'],
        operationId: 'createJournalEntry',
        summary: 'Write a journal entry',
        description:
          "Needs an active consent whose template covers `treatmentType`, signed before `performedAt` (and at least the template's `coolingOffHours` before it), and a client at least the template's `minimumAge` on `performedAt`; otherwise 409 with `rule`: `consent_missing`, `consent_withdrawn`, `consent_after_treatment`, `cooling_off` or `minimum_age`. `recordedLate` is true when written more than 24 hours after `performedAt`.",
        params: clientJournalParams,
        body: createEntrySchema,
        response: {
          201: entrySchema,
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await journal.create(request.ctx, request.params.id, request.body)),
  );

  app.get(
    '/v1/clients/:id/journal',
    {
      config: { permission: 'journal.read' },
      schema: {
        tags: ['journal'],
        operationId: 'listJournalEntries',
        summary: "A client's journal: entries with their amendments, oldest first",
        description:
          'A practitioner of another clinic may read it by sending `X-Break-Glass-Reason` (at least 10 characters); the audit events are then marked `breakGlass`.',
        params: clientJournalParams,
        querystring: listEntriesQuery,
        response: {
          200: entryPageSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => {
      // Pages run oldest first by (performedAt, id); the cursor carries both.
      const after = timeIdCursor.decode(request.query.cursor);
      const page = await journal.list(request.ctx, request.params.id, {
        limit: request.query.limit,
        after: after && { performedAt: new Date(after.at), id: after.id },
      });
      return {
        items: page.items,
        nextCursor:
          page.last === null
            ? null
            : timeIdCursor.encode({ at: page.last.performedAt.toISOString(), id: page.last.id }),
      };
    },
  );

  app.get(
    '/v1/clients/:id/journal/:entryId',
    {
      config: { permission: 'journal.read' },
      schema: {
        tags: ['journal'],
        operationId: 'getJournalEntry',
        summary: 'A journal entry with its amendments, oldest first',
        description: 'Break-glass as for the journal list.',
        params: entryParams,
        response: { 200: entrySchema, ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => journal.get(request.ctx, request.params.id, request.params.entryId),
  );

  app.post(
    '/v1/clients/:id/journal/:entryId/amendments',
    {
      config: { permission: 'journal.write', idempotent: true },
      schema: {
        tags: ['journal'],
        operationId: 'amendJournalEntry',
        summary: 'Amend a journal entry',
        description: 'The original stays readable beside the correction.',
        params: entryParams,
        body: createAmendmentSchema,
        response: {
          201: amendmentSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await journal.amend(request.ctx, request.params.id, request.params.entryId, request.body),
        ),
  );

  // Entries never change and are never deleted: the methods exist only to say so.
  for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
    app.route({
      method,
      url: '/v1/clients/:id/journal/:entryId',
      config: { permission: 'journal.write' },
      schema: {
        tags: ['journal'],
        operationId: `${method.toLowerCase()}JournalEntry`,
        summary: `${method} is not allowed: journal entries are immutable`,
        description: 'Always 405; correct an entry with an amendment.',
        params: entryParams,
        response: problemResponses(400, 405, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
      },
      handler: async () => {
        throw new MethodNotAllowed(
          'Journal entries never change and are never deleted; write an amendment instead.',
          { headers: { allow: 'GET' } },
        );
      },
    });
  }
};
