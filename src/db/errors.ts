/**
 * What a database error means to the service. drizzle-orm wraps the driver's error in a
 * DrizzleQueryError (`cause` holds pg's), so every check walks the chain of causes.
 */

/** The error and its causes, outermost first (at most 5 deep). */
export function* causes(error: unknown): Generator<object> {
  let current = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/** The PostgreSQL error (it has an SQLSTATE `code` and a `severity`) in the chain, if any. */
export function postgresError(error: unknown):
  | (Error & {
      code: string;
      severity: string;
      constraint?: string;
      table?: string;
      column?: string;
      routine?: string;
    })
  | undefined {
  for (const cause of causes(error)) {
    const fields = cause as { code?: unknown; severity?: unknown };
    if (typeof fields.code === 'string' && fields.severity !== undefined) {
      return cause as ReturnType<typeof postgresError>;
    }
  }
  return undefined;
}

/** PostgreSQL's unique_violation: the row would duplicate a unique key. */
export function isUniqueViolation(error: unknown): boolean {
  return postgresError(error)?.code === '23505';
}

/**
 * Errors that mean "the database is not reachable right now" (answer 503 + Retry-After), as
 * opposed to a bug or bad data.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  for (const cause of causes(error)) {
    if (isUnavailableItself(cause)) return true;
  }
  return false;
}

function isUnavailableItself(error: object): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) {
    return true;
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message !== 'string') return false;
  return (
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Connection terminated') ||
    message.includes('Client has encountered a connection error') ||
    message.includes('Cannot use a pool after calling end')
  );
}
