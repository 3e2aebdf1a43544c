import type { FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../errors.js';
import type { Permission } from './permissions.js';
import type { AuthContext } from './types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by assertClinicAccess when another clinic's data was opened through break-glass;
     * the audit door marks this request's events `breakGlass: true` with the reason.
     */
    breakGlass: { reason: string } | null;
  }
}

export const BREAK_GLASS_HEADER = 'x-break-glass-reason';
const BREAK_GLASS_MIN = 10;
const BREAK_GLASS_MAX = 500;
/** Only this action may be taken across clinics, and only by practitioners (API.md). */
const BREAK_GLASS_PERMISSION: Permission = 'journal.read';

export function isClinicMember(auth: AuthContext, clinicId: string): boolean {
  return auth.clinicIds.includes(clinicId);
}

/**
 * Another clinic's resource answers exactly like a missing one (404), so ids of other
 * clinics' data cannot be probed.
 */
export function assertClinicMember(auth: AuthContext, clinicId: string, what = 'resource'): void {
  if (!isClinicMember(auth, clinicId)) throw new NotFound(`No such ${what}.`);
}

/**
 * The stated reason of a break-glass request, or null when the header is absent. Invalid
 * use answers 400: too short or too long a reason, a role other than practitioner, or a
 * route other than a journal read. The auth hook calls this for every authenticated route,
 * so a bad header never reaches a handler.
 */
export function parseBreakGlass(
  request: FastifyRequest,
  auth: AuthContext,
  permission: Permission | undefined,
): string | null {
  const raw = request.headers[BREAK_GLASS_HEADER];
  if (raw === undefined) return null;
  const reason = typeof raw === 'string' ? raw.trim() : '';
  const invalid = (message: string) =>
    new BadRequest('The break-glass request is not valid.', [
      { path: `headers.${BREAK_GLASS_HEADER}`, message },
    ]);
  if (reason.length < BREAK_GLASS_MIN || reason.length > BREAK_GLASS_MAX) {
    throw invalid(`must state a reason of ${BREAK_GLASS_MIN} to ${BREAK_GLASS_MAX} characters`);
  }
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(reason)) throw invalid('must not contain control characters');
  if (auth.role !== 'practitioner') throw invalid('only practitioners may use break-glass');
  if (permission !== BREAK_GLASS_PERMISSION)
    throw invalid('break-glass applies to journal reads only');
  return reason;
}

/**
 * For resources owned by a clinic: passes for members; for a practitioner's journal read
 * with a valid X-Break-Glass-Reason it passes too and marks the request (request.breakGlass)
 * so its audit events carry `breakGlass: true` and the reason; otherwise 404.
 */
export function assertClinicAccess(
  request: FastifyRequest,
  clinicId: string,
  what = 'resource',
): { breakGlass: boolean } {
  const auth = request.auth;
  if (!auth) throw new NotFound(`No such ${what}.`);
  if (isClinicMember(auth, clinicId)) return { breakGlass: false };
  const reason = parseBreakGlass(request, auth, request.routeOptions.config.permission);
  if (reason === null) throw new NotFound(`No such ${what}.`);
  request.breakGlass = { reason };
  return { breakGlass: true };
}
