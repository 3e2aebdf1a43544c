import swagger, { type SwaggerTransform } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { BREAK_GLASS_PERMISSION } from '../access/break-glass.js';
import {
  REQUEST_HEADERS,
  RESPONSE_HEADERS,
  type RequestHeaderName,
  type ResponseHeaderName,
} from '../schemas/headers.js';
import {
  documentHeaders,
  HEADERS_KEY,
  integerFormats,
  oneNamePerSchema,
  requestExamples,
  sequentialBodies,
  type OperationHeaders,
} from './openapi-document.js';
import { isApiRoute } from './route-policy.js';

declare module 'fastify' {
  interface FastifySchema {
    /** Request headers this route reads beyond those every route does (schemas/headers.ts). */
    requestHeaders?: readonly RequestHeaderName[];
    /** Response headers this route sends per status, beyond X-Request-Id and Retry-After. */
    responseHeaders?: Readonly<Partial<Record<number, readonly ResponseHeaderName[]>>>;
  }
}

export const API_VERSION = '0.1.0';

/** The tags operations are grouped by, in the order /docs shows them. */
const TAGS = [
  { name: 'service', description: 'Liveness and readiness, for orchestrators; no token.' },
  { name: 'auth', description: 'Log in, refresh, log out, the caller, the second factor.' },
  { name: 'users', description: 'Staff accounts (admin).' },
  { name: 'clinics', description: 'The clinics users and clients belong to (admin).' },
  {
    name: 'clients',
    description: "The clients of the caller's clinics (reception, practitioner).",
  },
  {
    name: 'data-subject requests',
    description: "A client's export, legal hold and erasure (admin).",
  },
  {
    name: 'consent templates',
    description: 'Versioned consent texts: admins publish, staff read.',
  },
  { name: 'consents', description: "A client's signed consents (reception, practitioner)." },
  { name: 'journal', description: 'The treatment journal and product recalls (practitioner).' },
  {
    name: 'journal drafts',
    description:
      "A practitioner's own unsigned drafts, written during the treatment; not part of the record.",
  },
  {
    name: 'attachments',
    description:
      'Clinical photos and documents (practitioner) and scanned consent forms (reception, practitioner): encrypted in chunks, streamed.',
  },
  {
    name: 'audit',
    description: "The tamper-evident audit log (auditor) and a client's access log.",
  },
];

const BEARER = [{ bearerAuth: [] }];
const PROBLEM_REF = '#/components/schemas/Problem';

const DESCRIPTIONS: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '204': 'Done; no content',
  '400': 'The request is not valid; `errors` names each field',
  '401': 'No token, or a bad, expired or revoked one',
  '403': "The caller's role may not do this",
  '404': "No such resource, or another clinic's (indistinguishable)",
  '405': 'Journal entries and attachments never change',
  '409': 'State conflict; `rule` names the rule where there is one',
  '412': 'If-Match no longer matches: the resource changed since it was read; nothing changed',
  '413': 'The body is too large',
  '415': 'Send application/json',
  '422': 'This Idempotency-Key was used for a different request; nothing was done',
  '429': 'Too many requests; see Retry-After',
  '431': 'The request headers or the URL are too large (refused before routing)',
  '503': 'Database or audit log unavailable; nothing was returned or changed; see Retry-After',
};

/**
 * The headers of one operation (schemas/headers.ts): X-Request-Id in and out everywhere,
 * X-Purpose-Of-Use on /v1 (the auth hook reads it on every request there), break-glass
 * where access/break-glass.ts allows it, Retry-After on every 429 and 503, plus what the
 * route declares.
 */
function operationHeaders(
  url: string,
  permission: string | undefined,
  statuses: readonly string[],
  declared: Pick<FastifySchema, 'requestHeaders' | 'responseHeaders'>,
): OperationHeaders {
  const request: RequestHeaderName[] = ['X-Request-Id'];
  if (isApiRoute(url)) request.push('X-Purpose-Of-Use');
  if (permission === BREAK_GLASS_PERMISSION) request.push('X-Break-Glass-Reason');
  const response = Object.fromEntries(
    statuses.map((status) => {
      const names: ResponseHeaderName[] = ['X-Request-Id'];
      if (status === '429' || status === '503') names.push('Retry-After');
      names.push(...(declared.responseHeaders?.[Number(status)] ?? []));
      return [status, names];
    }),
  );
  return { request: [...request, ...(declared.requestHeaders ?? [])], response };
}

type Responses = Record<string, { description?: string; content?: Record<string, unknown> }>;

/**
 * Errors go out as `application/problem+json` (RFC 9457), so the document says so, and every
 * status gets a description that tells a client what it means here.
 */
function problemContentTypes<T>(document: T): T {
  const paths = (document as { paths?: Record<string, Record<string, { responses?: Responses }>> })
    .paths;
  for (const operations of Object.values(paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const description = DESCRIPTIONS[status];
        if (description && (!response.description || response.description === 'Default Response')) {
          response.description = description;
        }
        const json = response.content?.['application/json'];
        if (Number(status) >= 400 && json) {
          response.content = { 'application/problem+json': json };
        }
      }
    }
  }
  return document;
}

/**
 * One route's operation, from its zod schemas (fastify-type-provider-zod) and its access
 * policy: what the auth hook requires is what the document says, so `security` is derived
 * from `config.public` (route-policy.ts), never declared twice. Every documented route
 * names a stable `operationId` (SDK generators name their methods after it).
 */
const routeTransform: SwaggerTransform = (input) => {
  const result = jsonSchemaTransform(input);
  const schema = result.schema as Record<string, unknown> | undefined;
  if (!schema || schema.hide) return result;
  const method = [input.route.method].flat().join(',');
  if (typeof schema.operationId !== 'string') {
    throw new Error(`OpenAPI: ${method} ${input.url} has no operationId`);
  }
  const isPublic = !isApiRoute(input.url) || input.route.config?.public === true;
  schema.security = isPublic ? [] : BEARER;
  const declared: FastifySchema = input.schema ?? {};
  // Any request can be too large for Node's parser (maxHeaderSize, the URL included).
  schema.response = { ...(schema.response as object), 431: { $ref: PROBLEM_REF } };
  delete schema.requestHeaders;
  delete schema.responseHeaders;
  schema[HEADERS_KEY] = operationHeaders(
    input.url,
    input.route.config?.permission,
    Object.keys((schema.response as object | undefined) ?? {}),
    declared,
  );
  return result;
};

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
          'audit log of every read and write. Errors are RFC 9457 problem details ' +
          '(`application/problem+json`), those refused before routing included. Every response ' +
          'carries `X-Request-Id`, `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.',
      },
      servers: [{ url: '/' }],
      tags: TAGS,
      security: BEARER,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
    },
    transform: routeTransform,
    transformObject: (documentObject) => {
      const document = problemContentTypes(jsonSchemaTransformObject(documentObject));
      documentHeaders(document, { request: REQUEST_HEADERS, response: RESPONSE_HEADERS });
      oneNamePerSchema(document);
      requestExamples(document);
      sequentialBodies(document);
      integerFormats(document);
      return document;
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // The security plugin's CSP covers /docs too. Swagger UI's standalone top bar (a box to
    // load any other document, and a logo SVG with an inline <style> that CSP refuses
    // without 'unsafe-inline') is left out: this page shows this API's document only.
    uiConfig: { layout: 'BaseLayout' },
  });
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () =>
    app.swagger(),
  );
}

export default fp(swaggerPlugin, { name: 'swagger', fastify: '5.x' });
