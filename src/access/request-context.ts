import { BadRequest } from '../errors.js';
import type { Actor, RequestContext } from './context.js';

/** What the context is built from: the parts of an HTTP request it needs. */
export interface RequestFacts {
  id: string;
  ip: string;
  headers: Record<string, string | string[] | undefined>;
}

export const PURPOSE_OF_USE_HEADER = 'x-purpose-of-use';
/** `X-Purpose-Of-Use`: a short token such as `treatment`, `billing`, `complaint`. */
export const PURPOSE_OF_USE = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_USER_AGENT = 256;

// eslint-disable-next-line no-control-regex -- replacing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g;

function header(facts: RequestFacts, name: string): string | undefined {
  const value = facts.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A malformed `X-Purpose-Of-Use` answers 400 before any route runs, so a request never
 * proceeds with a purpose the audit log would have to drop.
 */
export function purposeOfUse(facts: RequestFacts): string | null {
  const raw = facts.headers[PURPOSE_OF_USE_HEADER];
  if (raw === undefined) return null;
  const value = typeof raw === 'string' ? raw.trim() : '';
  if (!PURPOSE_OF_USE.test(value)) {
    throw new BadRequest('X-Purpose-Of-Use must be a short token such as treatment or billing.', [
      { path: `headers.${PURPOSE_OF_USE_HEADER}`, message: 'must match [A-Za-z0-9_-]{1,64}' },
    ]);
  }
  return value;
}

/** The immutable context of one request (see context.ts). */
export function requestContext(
  facts: RequestFacts,
  parts: {
    actor: Actor | null;
    purposeOfUse: string | null;
    breakGlass: { reason: string } | null;
  },
): RequestContext {
  const userAgent = header(facts, 'user-agent');
  return Object.freeze({
    actor:
      parts.actor &&
      Object.freeze({ ...parts.actor, clinicIds: Object.freeze([...parts.actor.clinicIds]) }),
    requestId: facts.id,
    ip: facts.ip,
    userAgent: userAgent ? userAgent.replace(CONTROL, ' ').slice(0, MAX_USER_AGENT) : null,
    purposeOfUse: parts.purposeOfUse,
    breakGlass: parts.breakGlass && Object.freeze({ reason: parts.breakGlass.reason }),
  });
}
