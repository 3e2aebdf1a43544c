import { z } from 'zod';
import { idCursor } from '../../schemas/cursor.js';
import { pageQuerySchema } from '../../schemas/page.js';
import {
  AUTHENTICATED_PROBLEMS,
  BODY_PROBLEMS,
  problemResponses,
} from '../../schemas/responses.js';
import type { DraftsService } from './journal.drafts.js';
import type { JournalApp } from './journal.entry-routes.js';
import {
  clientJournalParams,
  createDraftSchema,
  draftParams,
  draftSchema,
  draftSummaryPageSchema,
  entrySchema,
  updateDraftSchema,
} from './journal.schemas.js';

/** Drafts of journal entries: their author's only, until signed into an entry. */
export function draftRoutes(app: JournalApp, drafts: DraftsService): void {
  app.post(
    '/v1/clients/:id/journal-drafts',
    {
      config: { permission: 'journal.drafts', idempotent: true },
      schema: {
        tags: ['journal drafts'],
        operationId: 'createJournalDraft',
        summary: 'Start a draft of a journal entry (any subset of its fields)',
        description:
          'Not yet part of the record: only its author sees it, it is never exported, and it is sealed under the client key like entries.',
        params: clientJournalParams,
        body: createDraftSchema,
        response: {
          201: draftSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await drafts.create(request.ctx, request.params.id, request.body)),
  );

  app.get(
    '/v1/clients/:id/journal-drafts/:draftId',
    {
      config: { permission: 'journal.drafts' },
      schema: {
        tags: ['journal drafts'],
        operationId: 'getJournalDraft',
        summary: 'Read one of your drafts (anyone else: 404)',
        params: draftParams,
        response: { 200: draftSchema, ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => drafts.get(request.ctx, request.params.id, request.params.draftId),
  );

  app.patch(
    '/v1/clients/:id/journal-drafts/:draftId',
    {
      config: { permission: 'journal.drafts', idempotent: true },
      schema: {
        tags: ['journal drafts'],
        operationId: 'updateJournalDraft',
        summary: 'Change one of your drafts: given fields replace, `null` removes',
        params: draftParams,
        body: updateDraftSchema,
        response: {
          200: draftSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) =>
      drafts.update(request.ctx, request.params.id, request.params.draftId, request.body),
  );

  app.delete(
    '/v1/clients/:id/journal-drafts/:draftId',
    {
      config: { permission: 'journal.drafts', idempotent: true },
      schema: {
        tags: ['journal drafts'],
        operationId: 'deleteJournalDraft',
        summary: 'Discard one of your drafts',
        params: draftParams,
        response: {
          204: z.null().describe('Discarded'),
          ...problemResponses(400, 404, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      await drafts.remove(request.ctx, request.params.id, request.params.draftId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/clients/:id/journal-drafts/:draftId/sign',
    {
      config: { permission: 'journal.drafts', idempotent: true },
      schema: {
        tags: ['journal drafts'],
        operationId: 'signJournalDraft',
        summary: 'Sign a draft: it becomes a journal entry, and the draft is gone',
        description:
          'Under the same rules (and 409 rules) as a direct write; 400 names each field a complete entry lacks (`draft.<field>`). `recordedLate` counts from the signature.',
        params: draftParams,
        response: {
          201: entrySchema,
          ...problemResponses(400, 404, 409, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await drafts.sign(request.ctx, request.params.id, request.params.draftId)),
  );

  app.get(
    '/v1/journal-drafts',
    {
      config: { permission: 'journal.drafts' },
      schema: {
        tags: ['journal drafts'],
        operationId: 'listMyJournalDrafts',
        summary: 'Your unsigned drafts, oldest first (no clinical text)',
        querystring: pageQuerySchema,
        response: {
          200: draftSummaryPageSchema,
          ...problemResponses(400, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => {
      const page = await drafts.listMine(request.ctx, {
        limit: request.query.limit,
        after: idCursor.decode(request.query.cursor),
      });
      return {
        items: page.items,
        nextCursor: page.last === null ? null : idCursor.encode(page.last),
      };
    },
  );
}
