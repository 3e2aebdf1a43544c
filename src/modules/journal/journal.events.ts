import type { AuditEventInput } from '../audit/audit.types.js';

/** A journal audit event: about the client, or one of its journal resources. */
export function event(
  action: string,
  clientId: string,
  resource: { type: string; id: string } | null,
): AuditEventInput {
  return {
    action,
    outcome: 'success',
    resourceType: resource?.type ?? 'client',
    resourceId: resource?.id ?? clientId,
    clientId,
  };
}
