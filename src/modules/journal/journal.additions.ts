import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientCipher, ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { Conflict, Forbidden, NotFound } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { scopedClient } from '../clients/clients.scope.js';
import { event } from './journal.events.js';
import {
  JOURNAL_FIELDS,
  presentAmendment,
  presentEntry,
  presentStatement,
} from './journal.fields.js';
import { journalRepository as repo } from './journal.repository.js';
import type { Amendment, CreateAmendmentInput, Entry, Statement } from './journal.schemas.js';

export interface EntryAdditionsDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  clock: () => Date;
}

/**
 * What is added beside an entry, which itself never changes: amendments, the countersignature,
 * the entered-in-error mark and the client's statements.
 */
export function createEntryAdditions(deps: EntryAdditionsDeps) {
  const { db, keys, audit, clock } = deps;

  /** The entry of this client, read again after a change, as the API shows it. */
  async function entryNow(
    executor: Executor,
    clientId: string,
    entryId: string,
    cipher: ClientCipher,
  ) {
    const entry = await repo.findEntry(executor, clientId, entryId);
    if (!entry) throw new NotFound('Journal entry not found.');
    return presentEntry(cipher, entry, await repo.additionsOf(executor, [entryId]));
  }

  return {
    async amend(
      ctx: RequestContext,
      clientId: string,
      entryId: string,
      input: CreateAmendmentInput,
    ): Promise<Amendment> {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal.amend', { forShare: true });
        const entry = await repo.findEntry(tx, clientId, entryId);
        if (!entry) throw new NotFound('Journal entry not found.');
        const cipher = await keys.cipherFor(tx, clientId);
        const id = uuidv7();
        const row = await repo.insertAmendment(tx, {
          id,
          entryId,
          clientId,
          authorId: actor.userId,
          notes: cipher.seal(JOURNAL_FIELDS.amendmentNotes, id, input.notes),
          reason: cipher.seal(JOURNAL_FIELDS.amendmentReason, id, input.reason),
          createdAt: clock(),
        });
        await audit.write(tx, ctx, [
          event('journal.amend', clientId, { type: 'journal_entry', id: entryId }),
        ]);
        const amendment = presentAmendment(cipher, row);
        await ctx.idempotency?.remember(tx, { clientId, body: amendment });
        return amendment;
      });
    },

    /** The entry's responsibleId countersigns it, once; anyone else 403 before any 409. */
    async countersign(ctx: RequestContext, clientId: string, entryId: string): Promise<Entry> {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal.countersign');
        const entry = await repo.findEntry(tx, clientId, entryId, { forUpdate: true });
        if (!entry) throw new NotFound('Journal entry not found.');
        if (entry.responsibleId !== actor.userId) {
          throw new Forbidden('Only the practitioner responsible for the entry countersigns it.', {
            audit: {
              action: 'journal.countersign',
              resourceType: 'journal_entry',
              resourceId: entryId,
              clientId,
              reason: 'not_responsible',
            },
          });
        }
        if (await repo.countersignatureOf(tx, entryId)) {
          throw Conflict.rule('already_countersigned', 'The entry has already been countersigned.');
        }
        await repo.insertCountersignature(tx, {
          entryId,
          clientId,
          countersignedBy: actor.userId,
          countersignedAt: clock(),
        });
        await audit.write(tx, ctx, [
          event('journal.countersign', clientId, { type: 'journal_entry', id: entryId }),
        ]);
        const signed = await entryNow(tx, clientId, entryId, await keys.cipherFor(tx, clientId));
        await ctx.idempotency?.remember(tx, { clientId, body: signed });
        return signed;
      });
    },

    /** An entry on the wrong client: kept, marked, left out of lists; by its author or responsible person, once. */
    async markEnteredInError(
      ctx: RequestContext,
      clientId: string,
      entryId: string,
      reason: string,
    ): Promise<Entry> {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal.entered_in_error');
        const entry = await repo.findEntry(tx, clientId, entryId, { forUpdate: true });
        if (!entry) throw new NotFound('Journal entry not found.');
        if (entry.authorId !== actor.userId && entry.responsibleId !== actor.userId) {
          throw new Forbidden(
            "Only the entry's author or the responsible practitioner marks it entered-in-error.",
            {
              audit: {
                action: 'journal.entered_in_error',
                resourceType: 'journal_entry',
                resourceId: entryId,
                clientId,
                reason: 'not_author_or_responsible',
              },
            },
          );
        }
        if (await repo.errorOf(tx, entryId)) {
          throw Conflict.rule(
            'already_entered_in_error',
            'The entry has already been marked entered-in-error.',
          );
        }
        const cipher = await keys.cipherFor(tx, clientId);
        await repo.insertError(tx, {
          entryId,
          clientId,
          markedBy: actor.userId,
          markedAt: clock(),
          reason: cipher.seal(JOURNAL_FIELDS.errorReason, entryId, reason),
        });
        await audit.write(tx, ctx, [
          event('journal.entered_in_error', clientId, { type: 'journal_entry', id: entryId }),
        ]);
        const marked = await entryNow(tx, clientId, entryId, cipher);
        await ctx.idempotency?.remember(tx, { clientId, body: marked });
        return marked;
      });
    },

    /** The client's own words beside an entry (GDPR Art. 16 by addition); never changed. */
    async addStatement(
      ctx: RequestContext,
      clientId: string,
      entryId: string,
      text: string,
    ): Promise<Statement> {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal.statement');
        const entry = await repo.findEntry(tx, clientId, entryId);
        if (!entry) throw new NotFound('Journal entry not found.');
        const cipher = await keys.cipherFor(tx, clientId);
        const id = uuidv7();
        const row = await repo.insertStatement(tx, {
          id,
          entryId,
          clientId,
          recordedBy: actor.userId,
          text: cipher.seal(JOURNAL_FIELDS.statementText, id, text),
          createdAt: clock(),
        });
        await audit.write(tx, ctx, [
          event('journal.statement', clientId, { type: 'journal_entry', id: entryId }),
        ]);
        const statement = presentStatement(cipher, row);
        await ctx.idempotency?.remember(tx, { clientId, body: statement });
        return statement;
      });
    },
  };
}
