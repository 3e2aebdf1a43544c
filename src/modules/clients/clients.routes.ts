import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idCursor } from '../../schemas/cursor.js';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import {
  clientIdParams,
  clientPageSchema,
  clientSchema,
  clientSearchResultSchema,
  createClientSchema,
  erasureSchema,
  legalHoldSchema,
  legalHoldStateSchema,
  restrictionSchema,
  restrictionStateSchema,
  listClientsQuery,
  searchClientsSchema,
  updateClientSchema,
} from './clients.schemas.js';
import { clientEtag } from './clients.etag.js';
import {
  createClientsService,
  type AttachmentContentRemover,
  type RetentionSource,
} from './clients.service.js';

/** Clients and the data-subject requests about them (API.md "Clients"). */
export const clientsRoutes: FastifyPluginAsyncZod<{
  retention: RetentionSource;
  retentionYears: number;
  /** Erasure removes attachments' objects from the store through this (app.ts wires it). */
  attachmentContent?: AttachmentContentRemover;
}> = async (app, options) => {
  const clients = createClientsService({
    attachmentContent: options.attachmentContent,
    db: app.db,
    keys: app.keys,
    audit: app.audit,
    retentionYears: options.retentionYears,
    retention: options.retention,
    // The app's clock (a test's fake one too): retention is counted against it.
    clock: app.clock,
  });

  app.post(
    '/v1/clients',
    {
      config: { permission: 'clients.write', idempotent: true },
      schema: {
        tags: ['clients'],
        operationId: 'createClient',
        summary: 'Create a client',
        body: createClientSchema,
        response: {
          201: clientSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await clients.create(request.ctx, request.body)),
  );

  app.get(
    '/v1/clients',
    {
      config: { permission: 'clients.read' },
      schema: {
        tags: ['clients'],
        operationId: 'listClients',
        summary: "List the clients of the caller's clinics (or of one of them)",
        description: 'One audit event is written per client returned.',
        querystring: listClientsQuery,
        response: {
          200: clientPageSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => {
      const after = idCursor.decode(request.query.cursor);
      const page = await clients.list(request.ctx, {
        clinicId: request.query.clinicId,
        limit: request.query.limit,
        after,
      });
      return {
        items: page.items,
        nextCursor: page.last === null ? null : idCursor.encode(page.last),
      };
    },
  );

  app.post(
    '/v1/clients/search',
    {
      config: { permission: 'clients.read' },
      schema: {
        tags: ['clients'],
        operationId: 'searchClients',
        summary: 'Exact-match search by e-mail, phone or national id',
        description:
          'Values travel in the body, never in the URL. Matching is normalised (case, spaces, dashes, a leading +45) and answered from blind indexes. Several fields must all match.',
        body: searchClientsSchema,
        response: {
          200: clientSearchResultSchema,
          ...problemResponses(400, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => ({ items: await clients.search(request.ctx, request.body) }),
  );

  app.get(
    '/v1/clients/:id',
    {
      config: { permission: 'clients.read' },
      schema: {
        tags: ['clients'],
        operationId: 'getClient',
        summary: 'Read a client',
        params: clientIdParams,
        response: { 200: clientSchema, ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS) },
        responseHeaders: { 200: ['ETag'] },
      },
    },
    async (request, reply) => {
      const client = await clients.get(request.ctx, request.params.id);
      const etag = clientEtag(client);
      if (etag) reply.header('etag', etag);
      return client;
    },
  );

  app.patch(
    '/v1/clients/:id',
    {
      config: { permission: 'clients.write', idempotent: true },
      schema: {
        tags: ['clients'],
        operationId: 'updateClient',
        summary: 'Change a client',
        description: 'Only the fields given change; `null` clears an optional field.',
        params: clientIdParams,
        body: updateClientSchema,
        response: {
          200: clientSchema,
          ...problemResponses(400, 404, 412, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
        requestHeaders: ['If-Match'],
        responseHeaders: { 200: ['ETag'] },
      },
    },
    async (request, reply) => {
      const ifMatch = request.headers['if-match'];
      const client = await clients.update(request.ctx, request.params.id, request.body, {
        ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined,
      });
      const etag = clientEtag(client);
      if (etag) reply.header('etag', etag);
      return client;
    },
  );

  app.put(
    '/v1/clients/:id/restriction',
    {
      config: { permission: 'clients.restrict', idempotent: true },
      schema: {
        tags: ['data-subject requests'],
        operationId: 'setClientRestriction',
        summary: 'Restrict processing of a client (GDPR Art. 18), or lift it',
        description:
          'While restricted, the client is left out of lists, searches and recalls, `marketingOptIn` reads `false`, and a client update, a new consent, a new journal entry (a signed draft too) answer 409 `processing_restricted`. Reads by id, withdrawals, amendments, statements, entered-in-error, countersigning, legal hold and erasure are still allowed.',
        params: clientIdParams,
        body: restrictionSchema,
        response: {
          200: restrictionStateSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => clients.setRestriction(request.ctx, request.params.id, request.body),
  );

  app.put(
    '/v1/clients/:id/legal-hold',
    {
      config: { permission: 'subjects.manage', idempotent: true },
      schema: {
        tags: ['data-subject requests'],
        operationId: 'setClientLegalHold',
        summary: 'Put a client on legal hold, or lift it',
        description: 'While a complaint or case runs, nothing of the client may be erased.',
        params: clientIdParams,
        body: legalHoldSchema,
        response: {
          200: legalHoldStateSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => clients.setLegalHold(request.ctx, request.params.id, request.body),
  );

  app.delete(
    '/v1/clients/:id',
    {
      config: { permission: 'subjects.manage', idempotent: true },
      schema: {
        tags: ['data-subject requests'],
        operationId: 'eraseClient',
        summary: 'Erase a client (crypto-shredding)',
        description:
          "409 while on legal hold, or (with `retainUntil`) while a journal entry is inside the retention period. Otherwise the client's data key is destroyed and its search indexes cleared; the client answers 404 from then on.",
        params: clientIdParams,
        body: erasureSchema,
        response: {
          204: z.null().describe('Erased'),
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      await clients.erase(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
