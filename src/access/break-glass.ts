import { BadRequest } from '../errors.js';
import type { Actor } from './context.js';
import type { Permission } from './permissions.js';

export const BREAK_GLASS_HEADER = 'x-break-glass-reason';
export const BREAK_GLASS_MIN = 10;
export const BREAK_GLASS_MAX = 500;
/** Only this action may be taken across clinics, and only by practitioners (API.md). */
export const BREAK_GLASS_PERMISSION: Permission = 'journal.read';

/**
 * The one place break-glass is parsed and decided: the stated reason of a valid request, null
 * when the header is absent. Invalid use answers 400: too short or too long a reason, control
 * characters, a role other than practitioner, or a route other than a journal read. Whether
 * the request then needs it (another clinic's client) is the scope gate's decision.
 */
export function parseBreakGlass(
  raw: string | string[] | undefined,
  actor: Actor,
  permission: Permission | undefined,
): { reason: string } | null {
  if (raw === undefined) return null;
  const reason = typeof raw === 'string' ? raw.trim() : '';
  // Misuse is audited (API.md "What is audited"), naming the rule broken, never the text sent.
  const invalid = (message: string, rule: string) =>
    new BadRequest(
      'The break-glass request is not valid.',
      [{ path: `headers.${BREAK_GLASS_HEADER}`, message }],
      { audit: { action: 'access.denied', resourceType: 'route', reason: `break_glass:${rule}` } },
    );
  if (reason.length < BREAK_GLASS_MIN || reason.length > BREAK_GLASS_MAX) {
    throw invalid(
      `must state a reason of ${BREAK_GLASS_MIN} to ${BREAK_GLASS_MAX} characters`,
      'reason_length',
    );
  }
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(reason))
    throw invalid('must not contain control characters', 'control_characters');
  if (actor.role !== 'practitioner')
    throw invalid('only practitioners may use break-glass', 'role');
  if (permission !== BREAK_GLASS_PERMISSION)
    throw invalid('break-glass applies to journal reads only', 'route');
  return { reason };
}
