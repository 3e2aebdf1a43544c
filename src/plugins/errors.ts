import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DataKeyNotFound } from '../crypto/index.js';
import { isDatabaseUnavailable, postgresError } from '../db/errors.js';
import { HttpProblem, statusTitle, type ProblemFieldError } from '../errors.js';
import { SANE_REQUEST_ID } from '../schemas/headers.js';

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
  // A read that raced an erasure: the client's key went between reading its row and opening
  // it. Erased clients answer 404 (API.md "Clients"), whichever came first.
  if (error instanceof DataKeyNotFound) {
    return { document: problem(404, 'Not found.'), headers: {} };
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
  void reply.headers(standardHeaders(request.id));
  void sendProblem(reply, problem(status, detail));
}

/** What every answer carries, those made outside Fastify's reply included (README "Layout"). */
function standardHeaders(requestId: string): Record<string, string> {
  return {
    'x-request-id': requestId,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  };
}

/** What Node's HTTP parser refuses, by its error code; anything else it refuses is a 400. */
const CLIENT_ERRORS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    detail: 'The request headers (the URL included) are larger than this service accepts.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request did not arrive in time.' },
};

/**
 * Node answers what its HTTP parser refuses (headers or a URL over `maxHeaderSize`, a
 * malformed request line or header, a timeout) before Fastify has a request, so neither the
 * error handler nor the onRequest hooks run: Fastify's default wrote its own JSON, without
 * problem details, a request id or no-store (buildApp's `clientErrorHandler`).
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: ConnectionError,
  socket: Socket,
): void {
  // A reset connection has nobody left to answer (as Fastify's default handler does).
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, detail } = CLIENT_ERRORS[error.code] ?? {
    status: 400,
    detail: 'The request is not valid HTTP.',
  };
  this.log.info({ status, code: error.code }, 'request rejected by the HTTP parser');
  if (socket.writable) {
    const body = JSON.stringify(problem(status, detail));
    const headers = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      ...standardHeaders(randomUUID()),
      connection: 'close',
    };
    socket.write(
      `HTTP/1.1 ${status} ${statusTitle(status)}\r\n` +
        Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('') +
        `\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** The request id of a request Fastify never saw: the client's, if sane (as genReqId). */
function rawRequestId(request: IncomingMessage): string {
  const offered = request.headers['x-request-id'];
  return typeof offered === 'string' && SANE_REQUEST_ID.test(offered) ? offered : randomUUID();
}

/**
 * An `Expect` other than 100-continue is answered by Node itself (417, empty body) unless
 * the server listens for it; Fastify never sees the request.
 */
function expectationFailed(request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify(
    problem(417, 'The only expectation this service meets is Expect: 100-continue.'),
  );
  response
    .writeHead(417, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      ...standardHeaders(rawRequestId(request)),
      connection: 'close',
    })
    .end(body);
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

  app.server.on('checkExpectation', expectationFailed);

  app.setNotFoundHandler((request, reply) => {
    return sendProblem(reply, problem(404, `No route for ${request.method} on this path.`));
  });
}

export default fp(errorsPlugin, { name: 'errors', fastify: '5.x' });
