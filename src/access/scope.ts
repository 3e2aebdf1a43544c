import type { Actor, RequestContext } from './context.js';
import { isOrganisationWide } from './roles.js';

export function isClinicMember(actor: Actor, clinicId: string): boolean {
  return actor.clinicIds.includes(clinicId);
}

/**
 * How the caller reaches a resource of `clinicId`: as a member of that clinic, through an
 * organisation-wide role (admin, auditor: only on the routes the permission table gives them), through
 * break-glass (a valid request on a route that allows it), or not at all (the caller answers
 * 404, exactly like a missing resource, so other clinics' ids cannot be probed).
 */
export function clinicAccess(
  ctx: RequestContext,
  clinicId: string,
  options: { breakGlass?: boolean } = {},
): 'member' | 'organisation' | 'breakGlass' | null {
  if (ctx.actor && isOrganisationWide(ctx.actor.role)) return 'organisation';
  if (ctx.actor && isClinicMember(ctx.actor, clinicId)) return 'member';
  if (options.breakGlass && ctx.breakGlass) return 'breakGlass';
  return null;
}
