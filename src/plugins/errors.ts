import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isDatabaseUnavailable, postgresError } from '../db/errors.js';
import { HttpProblem, statusTitle, type ProblemFieldError } from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: ProblemFieldError[];
  [extension: string]: unknown;
}

/**
 * Runs before an error is answered, and may replace it: e.g. the audit module records a
 * refusal's event here, and answers 503 instead when it cannot (fail closed).
 */
export type ErrorMapper = (error: unknown, request: FastifyRequest) => Promise<unknown>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Adds a step every error passes before it is answered (see ErrorMapper). */
    addErrorMapper(mapper: ErrorMapper): void;
  }
}

/** Fastify's own 4xx errors, with a detail we choose (its messages can echo input). */
const FASTIFY_DETAILS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is larger than this endpoint accepts.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE:
    'The request content type is not supported; send application/json.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the body.',
  FST_ERR_CTP_EMPTY_JSON_BODY:
    'The request body is empty but the content type is application/json.',
  FST_ERR_CTP_INVALID_JSON_BODY: 'The request body is not valid JSON.',
  FST_ERR_BAD_URL: 'The request URL is malformed.',
  FST_ERR_ASYNC_CONSTRAINT: 'The request could not be routed.',
};

export function problem(
  status: number,
  detail: string,
  extensions: Record<string, unknown> = {},
): ProblemDocument {
  return { type: 'about:blank', title: statusTitle(status), status, detail, ...extensions };
}

export function sendProblem(reply: FastifyReply, document: ProblemDocument): FastifyReply {
  return reply.code(document.status).type(PROBLEM_CONTENT_TYPE).send(document);
}

function validationErrors(error: FastifyError): ProblemFieldError[] {
  const context =
    (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  const issues = hasZodFastifySchemaValidationErrors(error)
    ? error.validation
    : (error.validation ?? []);
  return issues.map((issue) => ({
    path: [context, ...issue.instancePath.split('/').filter(Boolean)].join('.'),
    message: issue.message ?? 'is invalid',
  }));
}

/**
 * What of an unexpected error goes to the log. A database error's message can carry values
 * (drizzle's DrizzleQueryError holds the SQL and its parameters; PostgreSQL's own messages
 * quote bad input), so for those only the SQLSTATE and where it arose are logged.
 */
function loggableError(error: Error): Record<string, unknown> {
  const database = postgresError(error);
  if (database) {
    const { code, constraint, table, column, routine } = database;
    return { type: 'DatabaseError', code, constraint, table, column, routine };
  }
  if (error.message.startsWith('Failed query:')) return { type: 'DatabaseError' };
  return { type: error.name, message: error.message, stack: error.stack };
}

function toProblem(
  error: FastifyError,
  request: FastifyRequest,
): { document: ProblemDocument; headers: Record<string, string> } {
  if (error instanceof HttpProblem) {
    return {
      document: problem(error.status, error.message, error.extensions),
      headers: error.headers,
    };
  }
  if (error.validation) {
    return {
      document: problem(400, 'The request is not valid.', { errors: validationErrors(error) }),
      headers: {},
    };
  }
  if (isDatabaseUnavailable(error)) {
    request.log.error({ err: { code: (error as { code?: string }).code } }, 'database unavailable');
    return {
      document: problem(503, 'The service cannot reach its database; try again shortly.'),
      headers: { 'retry-after': '5' },
    };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const detail =
      (error.code && FASTIFY_DETAILS[error.code]) ??
      (status === 429 ? 'Too many requests; slow down.' : statusTitle(status));
    return { document: problem(status, detail), headers: {} };
  }
  request.log.error({ error: loggableError(error) }, 'unhandled error');
  return { document: problem(500, 'An unexpected error occurred.'), headers: {} };
}

/**
 * Fastify answers a URL it cannot decode (FST_ERR_BAD_URL) before routing, so neither the
 * error handler nor the onRequest hooks run: without this (buildApp's `frameworkErrors`) the
 * answer was Fastify's own JSON echoing the URL, with no problem document, request id or
 * no-store header.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
  const detail = (error.code && FASTIFY_DETAILS[error.code]) ?? 'The request was rejected.';
  request.log.info({ status, code: error.code }, 'request rejected');
  void reply.headers({
    'x-request-id': request.id,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  void sendProblem(reply, problem(status, detail));
}

/**
 * One error handler for the whole application: every error becomes RFC 9457 problem details,
 * and nothing of a 5xx's cause (stack, SQL, driver message) reaches the client.
 */
async function errorsPlugin(app: FastifyInstance) {
  const mappers: ErrorMapper[] = [];
  app.decorate('addErrorMapper', (mapper: ErrorMapper) => {
    mappers.push(mapper);
  });

  app.setErrorHandler(async (thrown: FastifyError, request, reply) => {
    let error: unknown = thrown;
    for (const mapper of mappers) error = await mapper(error, request);
    const { document, headers } = toProblem(error as FastifyError, request);
    if (document.status < 500) {
      request.log.info(
        { status: document.status, code: (error as FastifyError).code },
        'request rejected',
      );
    }
    void reply.headers(headers);
    return sendProblem(reply, document);
  });

  app.setNotFoundHandler((request, reply) => {
    return sendProblem(reply, problem(404, `No route for ${request.method} on this path.`));
  });
}

export default fp(errorsPlugin, { name: 'errors', fastify: '5.x' });
