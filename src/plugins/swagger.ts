import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const API_VERSION = '0.1.0';

/**
 * The OpenAPI document is generated from the routes' zod schemas, so it cannot drift from
 * what the server validates; `npm run openapi` writes it to openapi.yaml.
 */
async function swaggerPlugin(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Clinic client-journal API',
        version: API_VERSION,
        description:
          'Clients, signed consents and treatment journals for aesthetic and medical clinics: ' +
          'field-level encryption, role-based access scoped to clinics, and a tamper-evident ' +
          'audit log of every read and write. Errors are RFC 9457 problem details.',
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () =>
    app.swagger(),
  );
}

export default fp(swaggerPlugin, { name: 'swagger', fastify: '5.x' });
