import type { RequestContext } from '../../access/context.js';
import { clinicAccess } from '../../access/scope.js';
import type { Executor } from '../../db/pool.js';
import { Conflict, NotFound } from '../../errors.js';
import { clientsRepository, type ClientRow } from './clients.repository.js';

export interface ClientScopeOptions {
  /** Lock the row for the caller's transaction. */
  forUpdate?: boolean;
  /**
   * Hold the row against an erasure (which locks it FOR UPDATE) until the caller's
   * transaction ends: a write sealed under the client's data key either commits before the
   * erasure looks (and is then counted by its checks), or waits and finds the client gone.
   */
  forShare?: boolean;
  /** A journal read: a practitioner of another clinic may pass with X-Break-Glass-Reason. */
  breakGlass?: boolean;
  /** An erased client too (its access log outlives it). */
  includeErased?: boolean;
}

/**
 * The one gate in front of everything stored about a client: the live client if it belongs to
 * one of the caller's clinics (or, where allowed, through break-glass). Another clinic's
 * client answers 404 exactly like a missing one, and that refusal is audited as `denied`
 * under the caller's action (by the error handler, once any transaction has rolled back).
 */
export async function scopedClient(
  executor: Executor,
  ctx: RequestContext,
  clientId: string,
  action: string,
  options: ClientScopeOptions = {},
): Promise<{ client: ClientRow; breakGlass: boolean }> {
  const client = await clientsRepository.findLive(executor, clientId, options);
  return inScope(ctx, clientId, client, action, options);
}

/**
 * The same gate for a client row the caller has already read (a hot path that fetches the
 * client together with what it guards, in one round trip): the row, or a 404 as above.
 */
export function inScope<T extends { clinicId: string }>(
  ctx: RequestContext,
  clientId: string,
  client: T | undefined,
  action: string,
  options: Pick<ClientScopeOptions, 'breakGlass'> = {},
): { client: T; breakGlass: boolean } {
  if (!client) throw new NotFound('Client not found.');
  const access = clinicAccess(ctx, client.clinicId, options);
  if (access !== null) return { client, breakGlass: access === 'breakGlass' };
  throw new NotFound('Client not found.', {
    audit: {
      action,
      resourceType: 'client',
      resourceId: clientId,
      clientId,
      reason: 'clinic_scope',
    },
  });
}

/**
 * While processing is restricted (GDPR Art. 18) nothing new is recorded about the client:
 * 409 `processing_restricted`, audited as a refused change.
 */
export function refuseWhileRestricted(
  client: { restricted: boolean },
  clientId: string,
  action: string,
): void {
  if (!client.restricted) return;
  throw Conflict.rule(
    'processing_restricted',
    "Processing of this client's data is restricted; nothing new may be recorded.",
    {
      audit: {
        action,
        resourceType: 'client',
        resourceId: clientId,
        clientId,
        reason: 'processing_restricted',
      },
    },
  );
}
