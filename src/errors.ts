/**
 * Typed errors that services throw; one error handler (plugins/errors.ts) turns them into
 * RFC 9457 problem details. Messages here are shown to clients: never put a personal
 * value, SQL or a secret in one.
 */
export interface ProblemFieldError {
  path: string;
  message: string;
}

export abstract class HttpProblem extends Error {
  abstract readonly status: number;
  abstract readonly title: string;
  /** Extra members added to the problem document (e.g. `retainUntil`, `rule`). */
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    detail: string,
    extensions: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.extensions = extensions;
    this.headers = headers;
  }
}

export class BadRequest extends HttpProblem {
  readonly status = 400;
  readonly title = 'Bad Request';
  constructor(
    detail: string,
    readonly errors: ProblemFieldError[] = [],
  ) {
    super(detail, errors.length > 0 ? { errors } : {});
  }
}

export class Unauthorized extends HttpProblem {
  readonly status = 401;
  readonly title = 'Unauthorized';
}

export class Forbidden extends HttpProblem {
  readonly status = 403;
  readonly title = 'Forbidden';
}

export class NotFound extends HttpProblem {
  readonly status = 404;
  readonly title = 'Not Found';
}

export class MethodNotAllowed extends HttpProblem {
  readonly status = 405;
  readonly title = 'Method Not Allowed';
}

export class Conflict extends HttpProblem {
  readonly status = 409;
  readonly title = 'Conflict';
}

export class TooManyRequests extends HttpProblem {
  readonly status = 429;
  readonly title = 'Too Many Requests';
  constructor(detail: string, retryAfterSeconds: number) {
    super(detail, {}, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
}

export class ServiceUnavailable extends HttpProblem {
  readonly status = 503;
  readonly title = 'Service Unavailable';
  constructor(detail: string, retryAfterSeconds = 5) {
    super(detail, {}, { 'retry-after': String(retryAfterSeconds) });
  }
}
