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
  createStatementSchema,
  enteredInErrorSchema,
  entryPageSchema,
  entryParams,
  entrySchema,
  listEntriesQuery,
  statementSchema,
} from './journal.schemas.js';
import type { JournalService } from './journal.service.js';

/** The app as a zod-typed route plugin sees it. */
export type JournalApp = Parameters<FastifyPluginAsyncZod>[0];

/** Journal entries and what is added beside them (API.md "Journal"). */
export function entryRoutes(app: JournalApp, journal: JournalService): void {
  app.post(
    '/v1/clients/:id/journal',
    {
      config: { permission: 'journal.write', idempotent: true, idempotentFolded: true },
      schema: {
        tags: ['journal'],
        operationId: 'createJournalEntry',
        summary: 'Write a journal entry',
        description:
          "Needs an active, unexpired consent whose template covers `treatmentType` and was not superseded by a version that `reconsentRequired`, signed before `performedAt` (and at least the template's `coolingOffHours` after `informedAt`, or `signedAt` when there is none), a client at least the template's `minimumAge` on `performedAt`, an authorised performer or responsible person when the template `requiresAuthorisation`, and each ink with `batchNumber` and `supplier` when it `inkRecordRequired`. `performedBy` (default: the caller) must be a practitioner of the client's clinic, `responsibleId` an authorised one. Otherwise 409 with `rule`: `consent_missing`, `consent_withdrawn`, `consent_after_treatment`, `consent_expired`, `consent_outdated`, `cooling_off`, `minimum_age`, `authorisation_required`, `responsible_not_authorised`, `performer_not_allowed`, `ink_record_missing` or `processing_restricted`. `recordedLate` is true when written more than `LATE_ENTRY_HOURS` (default 24) after `performedAt`.",
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
        summary: "A client's journal: entries with their amendments and statements, oldest first",
        description:
          'Entries marked entered-in-error are left out unless `?includeEnteredInError=true`. A practitioner of another clinic may read it by sending `X-Break-Glass-Reason` (at least 10 characters); the audit events are then marked `breakGlass`.',
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
        includeEnteredInError: request.query.includeEnteredInError,
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

  app.post(
    '/v1/clients/:id/journal/:entryId/countersign',
    {
      config: { permission: 'journal.write', idempotent: true },
      schema: {
        tags: ['journal'],
        operationId: 'countersignJournalEntry',
        summary: 'Countersign a delegated journal entry (its responsible practitioner only)',
        description:
          "Only the entry's `responsibleId` countersigns (anyone else 403, before any 409); twice 409 (`already_countersigned`).",
        params: entryParams,
        response: {
          200: entrySchema,
          ...problemResponses(400, 404, 409, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => journal.countersign(request.ctx, request.params.id, request.params.entryId),
  );

  app.post(
    '/v1/clients/:id/journal/:entryId/entered-in-error',
    {
      config: { permission: 'journal.write', idempotent: true },
      schema: {
        tags: ['journal'],
        operationId: 'markJournalEntryEnteredInError',
        summary: 'Mark a journal entry written on the wrong client as entered-in-error',
        description:
          "By the entry's author or responsible practitioner (else 403). The entry is kept, but left out of journal lists unless `?includeEnteredInError=true`; twice 409 (`already_entered_in_error`). The reason is sealed under the client's data key.",
        params: entryParams,
        body: enteredInErrorSchema,
        response: {
          200: entrySchema,
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) =>
      journal.markEnteredInError(
        request.ctx,
        request.params.id,
        request.params.entryId,
        request.body.reason,
      ),
  );

  app.post(
    '/v1/clients/:id/journal/:entryId/statements',
    {
      config: { permission: 'journal.statements', idempotent: true },
      schema: {
        tags: ['journal'],
        operationId: 'addJournalStatement',
        summary: "Record the client's own statement beside a journal entry",
        description:
          "The client's own words, e.g. disagreeing with an entry (GDPR Art. 16 by addition). Statements are never changed or deleted, and are sealed under the client's data key.",
        params: entryParams,
        body: createStatementSchema,
        response: {
          201: statementSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await journal.addStatement(
            request.ctx,
            request.params.id,
            request.params.entryId,
            request.body.text,
          ),
        ),
  );
}

/** Entries never change and are never deleted: the methods exist only to say so. */
export function immutableEntryRoutes(app: JournalApp): void {
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
}
