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
