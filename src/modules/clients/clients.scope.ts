import type { FastifyRequest } from 'fastify';
import { assertClinicAccess } from '../../access/scope.js';
import type { AuthContext } from '../../access/types.js';
import type { Executor } from '../../db/pool.js';
import { NotFound } from '../../errors.js';
import type { AuditRecorder } from '../audit/audit.types.js';
import { clientsRepository, type ClientRow } from './clients.repository.js';

export interface ClientScopeOptions {
  /** Lock the row for the caller's transaction. */
  forUpdate?: boolean;
  /** A journal read: a practitioner of another clinic may pass with X-Break-Glass-Reason. */
  breakGlass?: boolean;
}

/**
 * The one gate in front of everything stored about a client: the live client if it belongs to
 * one of the caller's clinics (or, where allowed, through break-glass). Another clinic's
 * client answers 404 exactly like a missing one, and that refusal is audited as `denied`
 * under the caller's action.
 */
export async function scopedClient(
  audit: AuditRecorder,
  executor: Executor,
  request: FastifyRequest | null,
  auth: AuthContext,
  clientId: string,
  action: string,
  options: ClientScopeOptions = {},
): Promise<{ client: ClientRow; breakGlass: boolean }> {
  const client = await clientsRepository.findLive(executor, clientId, options);
  return inScope(audit, request, auth, clientId, client, action, options);
}

/**
 * The same gate for a client row the caller has already read (a hot path that fetches the
 * client together with what it guards, in one round trip): the row, or a 404 as above.
 */
export async function inScope<T extends { clinicId: string }>(
  audit: AuditRecorder,
  request: FastifyRequest | null,
  auth: AuthContext,
  clientId: string,
  client: T | undefined,
  action: string,
  options: Pick<ClientScopeOptions, 'breakGlass'> = {},
): Promise<{ client: T; breakGlass: boolean }> {
  if (!client) throw new NotFound('Client not found.');
  if (auth.clinicIds.includes(client.clinicId)) return { client, breakGlass: false };
  if (options.breakGlass && request) {
    try {
      return { client, ...assertClinicAccess(request, client.clinicId, 'client') };
    } catch (error) {
      if (!(error instanceof NotFound)) throw error;
    }
  }
  await audit.record(request, [
    {
      action,
      outcome: 'denied',
      resourceType: 'client',
      resourceId: clientId,
      clientId,
      reason: 'clinic_scope',
    },
  ]);
  throw new NotFound('Client not found.');
}
