import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import {
  clientConsentParams,
  consentDetailSchema,
  consentListSchema,
  consentParams,
  consentSchema,
  createConsentSchema,
  withdrawConsentSchema,
} from './consents.schemas.js';
import { createConsentsService } from './consents.service.js';

/** Signed consents of a client (API.md "Consents"): clinic-scoped like clients. */
export const consentsRoutes: FastifyPluginAsyncZod = async (app) => {
  const consents = createConsentsService({
    db: app.db,
    keys: app.keys,
    audit: app.audit,
    clock: app.clock,
  });

  app.post(
    '/v1/clients/:id/consents',
    {
      config: { permission: 'consents.write', idempotent: true },
      schema: {
        tags: ['consents'],
        operationId: 'createConsent',
        summary: 'Record a signed consent',
        description:
          '`documentHash` is the SHA-256 (hex) of the RFC 8785-style canonical JSON of `{ template: { id, key, version, body }, client: { id, firstName, lastName, dateOfBirth }, signerName, signatureImage (base64 or null), answers (or null), signedAt (RFC 3339 UTC with milliseconds) }`. `signedAt` defaults to now; it may be up to 30 days back, never in the future. `witnessedBy` is the caller.',
        params: clientConsentParams,
        body: createConsentSchema,
        response: {
          201: consentSchema,
          ...problemResponses(400, 404, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await consents.create(request.ctx, request.params.id, request.body)),
  );

  app.get(
    '/v1/clients/:id/consents',
    {
      config: { permission: 'consents.read' },
      schema: {
        tags: ['consents'],
        operationId: 'listConsents',
        summary: "List a client's consents, oldest first",
        params: clientConsentParams,
        response: {
          200: consentListSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => ({
      items: await consents.list(request.ctx, request.params.id),
    }),
  );

  app.get(
    '/v1/clients/:id/consents/:consentId',
    {
      config: { permission: 'consents.read' },
      schema: {
        tags: ['consents'],
        operationId: 'getConsent',
        summary: 'Read a consent with the template text as signed',
        params: consentParams,
        response: {
          200: consentDetailSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => consents.get(request.ctx, request.params.id, request.params.consentId),
  );

  app.post(
    '/v1/clients/:id/consents/:consentId/withdraw',
    {
      config: { permission: 'consents.write', idempotent: true },
      schema: {
        tags: ['consents'],
        operationId: 'withdrawConsent',
        summary: 'Withdraw a consent',
        description: 'A status change, never a delete. Withdrawing twice answers 409.',
        params: consentParams,
        body: withdrawConsentSchema,
        response: {
          200: consentSchema,
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) =>
      consents.withdraw(
        request.ctx,
        request.params.id,
        request.params.consentId,
        request.body.reason,
      ),
  );
};
