import type { RequestContext } from '../../access/context.js';
import type { Role } from '../../access/roles.js';
import type { Executor } from '../../db/pool.js';

export type AuditOutcome = 'success' | 'denied' | 'failure';

/**
 * What a caller says about one event. Ids only: never a personal value or clinical text.
 * Who, from where, why (purpose of use) and break-glass come from the request's context.
 */
export interface AuditEventInput {
  /** e.g. `client.read`, `journal.create`, `auth.login`. */
  action: string;
  outcome: AuditOutcome;
  resourceType?: string | null;
  resourceId?: string | null;
  clientId?: string | null;
  /** Overrides the context's actor (e.g. a failed login names the user id it was for). */
  actorId?: string | null;
  actorRole?: Role | null;
  /**
   * Why: a refusal's rule (e.g. `clinic_scope`), or a break-glass reason. At most 500
   * characters; the door masks anything that looks like an e-mail address, a phone number
   * or a national id. A withdrawal's or erasure's stated reason is NOT put here: ids only.
   */
  reason?: string | null;
  /**
   * The request reached another clinic's data through break-glass: the event is marked
   * `breakGlass: true`, and when `reason` is not given it is the context's break-glass reason.
   */
  breakGlass?: boolean;
}

/**
 * The audit door, with one entrance for reads and one for writes. Nothing else in the code
 * base knows the audit table's columns.
 */
export interface AuditDoor {
  /**
   * Reads and refusals: durable (committed) before the promise resolves, batched with
   * concurrent requests. Rejects with AuditUnavailable when the event cannot be written; the
   * caller then answers 503 and returns no data (fail closed).
   */
  record(ctx: RequestContext, events: AuditEventInput[]): Promise<void>;
  /**
   * Writes: the events inserted in the caller's transaction, so the change and its events
   * commit together or not at all; a failure is AuditUnavailable. (A write done in one
   * statement uses `auditedStatement`, the same entrance as a part of that statement.)
   */
  write(executor: Executor, ctx: RequestContext, events: AuditEventInput[]): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditDoor;
  }
}
