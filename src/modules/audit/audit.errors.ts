import { ServiceUnavailable } from '../../errors.js';

/**
 * The audit log could not be written: the request fails closed with 503 + Retry-After and
 * returns (or changes) nothing. Thrown by the recorder; routes just let it propagate.
 */
export class AuditUnavailable extends ServiceUnavailable {
  override name = 'AuditUnavailable';

  constructor(options?: { cause?: unknown }) {
    super('The audit log cannot be written right now; nothing was returned or changed.', 5);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/**
 * A caller handed the door an event it must never store (a malformed id, an action name that
 * is not `domain.verb`, a value that is not an id). A programming error: it answers 500, and
 * because it is thrown before anything is returned, the request still fails closed.
 */
export class InvalidAuditEvent extends Error {
  override name = 'InvalidAuditEvent';
}
