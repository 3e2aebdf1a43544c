import type { Executor } from '../db/pool.js';
import { Unauthorized } from '../errors.js';
import type { Role } from './roles.js';

/** Who is calling, as established from a valid access token and a live session. */
export interface Actor {
  readonly userId: string;
  readonly sessionId: string;
  readonly username: string;
  readonly role: Role;
  readonly clinicIds: readonly string[];
}

/**
 * One request as decisions and audit events see it, built once before any route runs
 * (modules/auth/auth.hook.ts) and never changed. Services take this (or the parts they need),
 * never an HTTP request, so a CLI command or a job calls them with SYSTEM_CONTEXT.
 */
export interface RequestContext {
  /** Null on public routes and for the system (CLI, jobs). */
  readonly actor: Actor | null;
  readonly requestId: string | null;
  readonly ip: string | null;
  /** Control characters replaced, at most 256 characters. */
  readonly userAgent: string | null;
  /** `X-Purpose-Of-Use`, a short token such as `treatment` (validated). */
  readonly purposeOfUse: string | null;
  /**
   * A valid break-glass request (`X-Break-Glass-Reason`) by a role on a route that may use
   * it (access/break-glass.ts); the scope gate decides whether it is needed.
   */
  readonly breakGlass: { readonly reason: string } | null;
  /**
   * The request's `Idempotency-Key` on a route that declares `config.idempotent`
   * (modules/idempotency): the write's transaction hands its answer to `remember`, so the
   * key's row commits with the write and its audit event. Absent without a key.
   */
  readonly idempotency?: IdempotencyScope;
}

/** What a service's write transaction does with the request's Idempotency-Key. */
export interface IdempotencyScope {
  /**
   * Keeps the answer (`body` as the route sends it, sealed under `clientId`'s data key) in
   * the caller's transaction. Throws a 409 when the key was taken meanwhile (a concurrent
   * duplicate, which then rolls back). A write of no client remembers only `{ resourceId }`
   * (its route re-renders that resource on replay, `config.idempotentReplay`).
   */
  remember(
    executor: Executor,
    answer: { clientId: string | null; body: unknown } | { resourceId: string },
  ): Promise<void>;
  /**
   * For a write done in one statement: the key row's values, `responseEnc` sealed by the
   * caller (`seal(rowId)`, under the client's data key). The statement inserts the row with
   * `ON CONFLICT DO NOTHING`-like care and writes only if it did; see journal.write.ts.
   */
  rowFor(answer: { clientId: string; seal: (rowId: string) => Buffer }): IdempotencyRowValues;
  /**
   * After a one-statement write wrote nothing: throws if a live row holds the key (a folded
   * route, `config.idempotentFolded`, then answers from that row: a replay or 422; elsewhere
   * it is a 409), else returns.
   */
  assertFree(executor: Executor): Promise<void>;
}

export interface IdempotencyRowValues {
  id: string;
  actorId: string;
  keyHash: Buffer;
  requestHash: Buffer;
  clientId: string;
  resourceId: null;
  status: number;
  responseEnc: Buffer;
  createdAt: Date;
  expiresAt: Date;
}

/** The context of work no person asked for over HTTP: operator commands, housekeeping. */
export const SYSTEM_CONTEXT: RequestContext = Object.freeze({
  actor: null,
  requestId: null,
  ip: null,
  userAgent: null,
  purposeOfUse: null,
  breakGlass: null,
});

/**
 * The caller of a route behind the auth hook. Defence in depth: a service reached without a
 * signed-in caller answers 401 rather than acting for nobody.
 */
export function actorOf(ctx: RequestContext): Actor {
  if (!ctx.actor) throw new Unauthorized('Sign in first.');
  return ctx.actor;
}
