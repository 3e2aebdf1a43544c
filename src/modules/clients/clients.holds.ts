import type { RequestContext } from '../../access/context.js';
import type { ClientCipher, ClientKeys } from '../../crypto/index.js';
import type { Database, Executor } from '../../db/pool.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { event } from './clients.events.js';
import { CLIENT_FIELDS } from './clients.fields.js';
import { clientsRepository as repo, type ClientRow } from './clients.repository.js';
import { scopedClient } from './clients.scope.js';

/** A client's legal hold as the API shows it, its reason opened. */
export function legalHoldOf(row: ClientRow, cipher: ClientCipher) {
  return {
    active: row.legalHold,
    reason: row.legalHoldReason
      ? cipher.open(CLIENT_FIELDS.legalHoldReason, row.id, row.legalHoldReason)
      : null,
    since: row.legalHoldSince?.toISOString() ?? null,
  };
}

export interface ClientHoldsDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  clock: () => Date;
}

/** What holds a client's data back: a legal hold (no erasure) and a restriction of processing. */
export function createClientHolds(deps: ClientHoldsDeps) {
  const { db, keys, audit, clock } = deps;

  return {
    async setLegalHold(
      ctx: RequestContext,
      id: string,
      change: { active: boolean; reason: string },
    ) {
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, id, 'client.legal_hold', { forUpdate: true });
        const cipher = await keys.cipherFor(tx, id);
        const row = await repo.update(tx, id, {
          legalHold: change.active,
          legalHoldReason: change.active
            ? cipher.seal(CLIENT_FIELDS.legalHoldReason, id, change.reason)
            : null,
          legalHoldSince: change.active ? clock() : null,
        });
        await audit.write(tx, ctx, [
          { ...event('client.legal_hold', id), reason: change.active ? 'hold_on' : 'hold_off' },
        ]);
        const state = { clientId: id, ...legalHoldOf(row, cipher) };
        await ctx.idempotency?.remember(tx, { clientId: id, body: state });
        return state;
      });
    },

    /** Restriction of processing (GDPR Art. 18): set or lifted, the reason sealed. */
    async setRestriction(
      ctx: RequestContext,
      id: string,
      change: { active: boolean; reason: string },
    ) {
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, id, 'client.restriction', { forUpdate: true });
        const cipher = await keys.cipherFor(tx, id);
        const changedAt = clock();
        const row = await repo.update(tx, id, {
          restricted: change.active,
          restrictionReason: cipher.seal(CLIENT_FIELDS.restrictionReason, id, change.reason),
          restrictionChangedAt: changedAt,
        });
        await audit.write(tx, ctx, [
          {
            ...event('client.restriction', id),
            reason: change.active ? 'restriction_on' : 'restriction_off',
          },
        ]);
        const state = {
          clientId: id,
          restricted: row.restricted,
          changedAt: changedAt.toISOString(),
        };
        await ctx.idempotency?.remember(tx, { clientId: id, body: state });
        return state;
      });
    },
  };
}
