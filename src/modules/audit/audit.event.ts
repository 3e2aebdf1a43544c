import type { RequestContext } from '../../access/context.js';
import { ROLES, type Role } from '../../access/roles.js';
import { uuidv7 } from '../../db/ids.js';
import { isUuid } from '../../schemas/uuid.js';
import { InvalidAuditEvent } from './audit.errors.js';
import type { AuditEventInput, AuditOutcome } from './audit.types.js';

/** One row of audit_events as the door writes it (seq and xid come from the database). */
export interface AuditRow {
  id: string;
  at: Date;
  actorId: string | null;
  actorRole: Role | null;
  action: string;
  outcome: AuditOutcome;
  resourceType: string | null;
  resourceId: string | null;
  clientId: string | null;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
  breakGlass: boolean;
  reason: string | null;
  purposeOfUse: string | null;
  /** The reason is free text (a break-glass reason): sealed before it is stored (audit.reasons.ts). */
  freeTextReason?: boolean;
}

export const ACTION_PATTERN = /^[a-z][a-zA-Z0-9_]*(\.[a-z][a-zA-Z0-9_]*){1,3}$/;
const RESOURCE_TYPE = /^[a-z][a-zA-Z0-9_]{0,63}$/;
const RESOURCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const OUTCOMES = new Set<string>(['success', 'denied', 'failure']);

export const MAX_REASON = 500;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;
const EMAIL = /[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[A-Za-z]{2,}/g;
/** A run of six or more digits, possibly split by spaces, dots, dashes, slashes or a leading +. */
const LONG_NUMBER = /\+?\d(?:[\s./-]?\d){5,}/g;

/**
 * Free text that may be stored on an event (a break-glass reason, a refusal's rule): control
 * characters become spaces, and anything that looks like an e-mail address, a phone number or
 * a national id is masked, so an event never carries a personal value even when a person
 * typed one into a reason.
 */
export function maskFreeText(value: string, max = MAX_REASON): string {
  return value
    .replace(CONTROL, ' ')
    .replace(EMAIL, '[email]')
    .replace(LONG_NUMBER, '[number]')
    .trim()
    .slice(0, max);
}

function optionalId(
  value: string | null | undefined,
  pattern: RegExp | ((value: string) => boolean),
  field: string,
): string | null {
  if (value === undefined || value === null) return null;
  if (!(typeof pattern === 'function' ? pattern(value) : pattern.test(value))) {
    throw new InvalidAuditEvent(`audit event ${field} is not an id`);
  }
  return value;
}

/**
 * Builds one row from what the caller says and the request's context. Throws
 * InvalidAuditEvent for anything that is not an id or a `domain.verb` action, so a personal
 * value passed by mistake is refused rather than stored.
 */
export function buildAuditRow(
  ctx: RequestContext,
  input: AuditEventInput,
  at: Date = new Date(),
): AuditRow {
  if (!ACTION_PATTERN.test(input.action) || input.action.length > 64) {
    throw new InvalidAuditEvent('audit event action must look like domain.verb');
  }
  if (!OUTCOMES.has(input.outcome)) {
    throw new InvalidAuditEvent('audit event outcome must be success, denied or failure');
  }
  const actorId = input.actorId !== undefined ? input.actorId : (ctx.actor?.userId ?? null);
  const actorRole = input.actorRole !== undefined ? input.actorRole : (ctx.actor?.role ?? null);
  if (actorRole !== null && !(ROLES as readonly string[]).includes(actorRole)) {
    throw new InvalidAuditEvent('audit event actorRole is not a role');
  }
  const breakGlass = input.breakGlass === true;
  const freeTextReason =
    (input.reason === undefined || input.reason === null) && breakGlass && !!ctx.breakGlass?.reason;
  const rawReason = input.reason ?? (breakGlass ? (ctx.breakGlass?.reason ?? null) : null);
  const reason = rawReason ? maskFreeText(rawReason) || null : null;
  return {
    id: uuidv7(at.getTime()),
    at,
    actorId: optionalId(actorId, isUuid, 'actorId'),
    actorRole,
    action: input.action,
    outcome: input.outcome,
    resourceType: optionalId(input.resourceType, RESOURCE_TYPE, 'resourceType'),
    resourceId: optionalId(input.resourceId, RESOURCE_ID, 'resourceId'),
    clientId: optionalId(input.clientId, isUuid, 'clientId'),
    requestId: ctx.requestId?.slice(0, 128) ?? null,
    ip: ctx.ip?.slice(0, 64) ?? null,
    userAgent: ctx.userAgent,
    breakGlass,
    reason,
    purposeOfUse: ctx.purposeOfUse,
    ...(freeTextReason && { freeTextReason }),
  };
}
