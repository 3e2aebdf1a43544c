import { createHmac } from 'node:crypto';

/**
 * One link of the audit chain (DESIGN.md "Audit log"; the sealer is audit.chain.ts): an event's
 * canonical text and the HMAC that chains it to the link before it. The sealer and verify both
 * compute links here, so they cannot disagree on the form.
 */

export const CHAIN_INFO = 'audit-chain/v1';
/** The link before position 1. */
export const GENESIS = Buffer.alloc(32);

/** Every column of an event, as text fixed by SQL (microsecond UTC timestamps), in one order. */
export const CANONICAL_COLUMNS = `e.id::text AS id, e.seq::text AS seq,
  to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
  e.actor_id::text AS actor_id, e.actor_role, e.action, e.outcome, e.resource_type,
  e.resource_id, e.client_id::text AS client_id, e.request_id, e.ip, e.user_agent,
  e.break_glass, e.reason, e.purpose_of_use, e.xid::text AS xid`;

export interface CanonicalEvent {
  id: string;
  seq: string;
  at: string;
  actor_id: string | null;
  actor_role: string | null;
  action: string;
  outcome: string;
  resource_type: string | null;
  resource_id: string | null;
  client_id: string | null;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  break_glass: boolean;
  reason: string | null;
  purpose_of_use: string | null;
  xid: string;
}

export function canonical(event: CanonicalEvent): string {
  return JSON.stringify([
    event.id,
    event.seq,
    event.at,
    event.actor_id,
    event.actor_role,
    event.action,
    event.outcome,
    event.resource_type,
    event.resource_id,
    event.client_id,
    event.request_id,
    event.ip,
    event.user_agent,
    event.break_glass,
    event.reason,
    event.purpose_of_use,
    event.xid,
  ]);
}

export function chainLink(
  key: Buffer,
  position: bigint | number,
  previous: Buffer,
  event: CanonicalEvent,
): Buffer {
  return createHmac('sha256', key)
    .update(`${CHAIN_INFO}\n${position}\n`)
    .update(previous)
    .update(canonical(event))
    .digest();
}
