import type { AuditEventInput } from '../audit/audit.types.js';

/** A client audit event: about the client itself. */
export function event(action: string, clientId: string): AuditEventInput {
  return { action, outcome: 'success', resourceType: 'client', resourceId: clientId, clientId };
}

/**
 * The one event of a list or search that returned nothing (API.md "What is audited"): its kind
 * (e.g. which fields were searched by), never the value.
 */
export function nothingFound(action: string, kind: string): AuditEventInput {
  return { action, outcome: 'success', resourceType: 'client', reason: `none_found:${kind}` };
}
