import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import { createClinicsService } from './clinics.service.js';
import { clinicSchema, createClinicBodySchema } from './clinics.schemas.js';

/** Clinics, managed by admins; every user and client belongs to one. */
export const clinicsRoutes: FastifyPluginAsyncZod = async (app) => {
  const clinics = createClinicsService({
    db: app.db,
    clock: app.clock,
    audit: app.audit,
  });

  app.post(
    '/v1/clinics',
    {
      config: {
        permission: 'clinics.manage',
        idempotent: true,
        idempotentReplay: (request, id) => clinics.get(request.ctx, id),
      },
      schema: {
        tags: ['clinics'],
        operationId: 'createClinic',
        summary: 'Create a clinic',
        body: createClinicBodySchema,
        response: {
          201: clinicSchema,
          ...problemResponses(400, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await clinics.create(request.ctx, request.body)),
  );

  app.get(
    '/v1/clinics',
    {
      config: { permission: 'clinics.manage' },
      schema: {
        tags: ['clinics'],
        operationId: 'listClinics',
        summary: 'List clinics',
        querystring: pageQuerySchema,
        response: {
          200: pageOf(clinicSchema),
          ...problemResponses(400, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => clinics.list(request.ctx, request.query),
  );
};
