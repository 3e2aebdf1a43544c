import type { FastifyRequest } from 'fastify';
import type { Role } from '../../access/roles.js';
import type { Executor } from '../../db/pool.js';

export type AuditOutcome = 'success' | 'denied' | 'failure';

/**
 * What a caller says about one event. Ids only: never a personal value or clinical text.
 * The request's context (actor, request id, ip, user agent, purpose of use, break-glass) is
 * taken from the request by the door itself.
 */
export interface AuditEventInput {
  /** e.g. `client.read`, `journal.create`, `auth.login`. */
  action: string;
  outcome: AuditOutcome;
  resourceType?: string | null;
  resourceId?: string | null;
  clientId?: string | null;
  /** Overrides the request's caller (e.g. a failed login names the user id it was for). */
  actorId?: string | null;
  actorRole?: Role | null;
  /**
   * Why: a refusal's rule (e.g. `clinic_scope`), or a break-glass reason. At most 500
   * characters; the door masks anything that looks like an e-mail address, a phone number
   * or a national id. A withdrawal's or erasure's stated reason is NOT put here: ids only.
   */
  reason?: string | null;
  /**
   * The route used break-glass (API.md): the event is marked `breakGlass: true`, and when
   * `reason` is not given it is taken from the request's `X-Break-Glass-Reason` header.
   */
  breakGlass?: boolean;
}

/** The one door through which every audit event is written. */
export interface AuditRecorder {
  /**
   * For reads and refusals: durable (committed) before the promise resolves, batched with
   * concurrent requests. Rejects when the event cannot be written; the caller must then
   * answer 503 and return no data (fail closed).
   */
  record(request: FastifyRequest | null, events: AuditEventInput[]): Promise<void>;
  /** For writes: inserted in the caller's transaction, so the change and its event commit together. */
  recordInTransaction(
    executor: Executor,
    request: FastifyRequest | null,
    events: AuditEventInput[],
  ): Promise<void>;
  /**
   * For a write done in one statement: the events as parameters for `auditInsertFrom()`,
   * the door's INSERT as the last part of the caller's `WITH ...` statement, so the change
   * and its events commit (or fail) together without a transaction of several round trips.
   * Validates the events like the other two.
   */
  statementValues(request: FastifyRequest | null, events: AuditEventInput[]): unknown[][];
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditRecorder;
  }
}
