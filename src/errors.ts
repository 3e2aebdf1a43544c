import type { ConflictRule } from './schemas/problem.js';

/**
 * Typed errors that services throw; one error handler (plugins/errors.ts) turns them into
 * RFC 9457 problem details. Messages here are shown to clients: never put a personal
 * value, SQL or a secret in one.
 */
export interface ProblemFieldError {
  path: string;
  message: string;
}

/** The title of each status this API answers with (RFC 9457 `title`). */
export const STATUS_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusTitle(status: number): string {
  return STATUS_TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/**
 * An audit event a refusal carries: the error handler has the audit door record it (with the
 * request's context) before the problem is answered, after any transaction the refusal came
 * out of has rolled back, so recording it never waits for a second pool connection. Ids only.
 */
export interface RefusalEvent {
  action: string;
  outcome?: 'denied' | 'failure';
  resourceType?: string | null;
  resourceId?: string | null;
  clientId?: string | null;
  /** The rule that refused, e.g. `clinic_scope`. */
  reason: string;
}

export interface ProblemOptions {
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Recorded before the answer (see RefusalEvent). */
  audit?: RefusalEvent;
}

export abstract class HttpProblem extends Error {
  abstract readonly status: number;
  /** Extra members added to the problem document (e.g. `retainUntil`, `rule`). */
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;
  readonly audit: RefusalEvent | undefined;

  constructor(detail: string, options: ProblemOptions = {}) {
    super(detail);
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
    this.audit = options.audit;
  }

  get title(): string {
    return statusTitle(this.status);
  }
}

export class BadRequest extends HttpProblem {
  readonly status = 400;
  constructor(
    detail: string,
    readonly errors: ProblemFieldError[] = [],
    options: Omit<ProblemOptions, 'extensions'> = {},
  ) {
    super(detail, { ...options, extensions: errors.length > 0 ? { errors } : {} });
  }
}

export class Unauthorized extends HttpProblem {
  readonly status = 401;
}

export class Forbidden extends HttpProblem {
  readonly status = 403;
}

export class NotFound extends HttpProblem {
  readonly status = 404;
}

export class MethodNotAllowed extends HttpProblem {
  readonly status = 405;
}

export class PayloadTooLarge extends HttpProblem {
  readonly status = 413;
}

export class UnsupportedMediaType extends HttpProblem {
  readonly status = 415;
}

export class Conflict extends HttpProblem {
  readonly status = 409;
  /** A state conflict naming the rule it broke (`rule` in the problem document). */
  static rule(rule: ConflictRule, detail: string, options: ProblemOptions = {}): Conflict {
    return new Conflict(detail, { ...options, extensions: { rule, ...options.extensions } });
  }
}

export class PreconditionFailed extends HttpProblem {
  readonly status = 412;
}

export class UnprocessableContent extends HttpProblem {
  readonly status = 422;
}

export class TooManyRequests extends HttpProblem {
  readonly status = 429;
  constructor(detail: string, retryAfterSeconds: number) {
    super(detail, {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

export class ServiceUnavailable extends HttpProblem {
  readonly status = 503;
  constructor(detail: string, retryAfterSeconds = 5) {
    super(detail, { headers: { 'retry-after': String(retryAfterSeconds) } });
  }
}
