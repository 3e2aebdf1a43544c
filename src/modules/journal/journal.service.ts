import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientCipher, ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import type { JournalProduct } from '../../db/schema/journal.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { inScope, scopedClient } from '../clients/clients.scope.js';
import { JOURNAL_FIELDS, presentAmendment, presentEntry } from './journal.fields.js';
import { createJournalReader, type JournalReadQuery } from './journal.read.js';
import {
  journalRepository as repo,
  type EntryCursor,
  type EntryRow,
} from './journal.repository.js';
import { CLOCK_SKEW_MS, consentFor, LATE_AFTER_MS } from './journal.rules.js';
import type {
  Amendment,
  CreateAmendmentInput,
  CreateEntryInput,
  Entry,
} from './journal.schemas.js';
import { createWriteContextReader, insertEntryWithEvent } from './journal.write.js';

export { ageOn } from './journal.rules.js';

/** Entries read per round trip for the data-subject export. */
const EXPORT_PAGE = 500;

export interface JournalServiceDeps {
  db: Database;
  /** The pool under `db`, for the single-statement write. */
  pool: pg.Pool;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  clock: () => Date;
}

function event(
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

/** The treatment journal (API.md "Journal"): entries never change; amendments sit beside them. */
export function createJournalService(deps: JournalServiceDeps) {
  const { db, pool, keys, audit, clock } = deps;
  const readJournal = createJournalReader(db);
  const readForWrite = createWriteContextReader(db);

  /**
   * A journal read in one round trip (the client's scope, its wrapped key and the entries),
   * then the same scope decision as every other client route: 404 and a `denied` event for
   * another clinic's client unless break-glass lets the practitioner in.
   */
  async function read(
    ctx: RequestContext,
    query: Pick<JournalReadQuery, 'clientId' | 'entryId' | 'after' | 'limit'>,
  ) {
    const found = await readJournal({
      ...query,
      clinicIds: actorOf(ctx).clinicIds,
      breakGlassRequested: ctx.breakGlass !== null,
    });
    const { breakGlass } = inScope(ctx, query.clientId, found.client, 'journal.read', {
      breakGlass: true,
    });
    const cipher = await keys.cipherFromWrapped(query.clientId, found.key);
    return { breakGlass, cipher, entries: found.entries, amendments: found.amendments };
  }

  return {
    async create(ctx: RequestContext, clientId: string, input: CreateEntryInput): Promise<Entry> {
      const actor = actorOf(ctx);
      const createdAt = clock();
      const performedAt = new Date(input.performedAt);
      if (performedAt.getTime() > createdAt.getTime() + CLOCK_SKEW_MS) {
        throw new BadRequest('The request is not valid.', [
          { path: 'body.performedAt', message: 'must not be in the future' },
        ]);
      }
      const products: JournalProduct[] = (input.products ?? []).map((product) => ({
        name: product.name,
        batchNumber: product.batchNumber,
        quantity: product.quantity ?? null,
        unit: product.unit ?? null,
      }));
      const batchIndexes = await Promise.all(
        products.map((product) => keys.blindIndex('batchNumber', product.batchNumber)),
      );
      // Read (scope, key, covering consents), decide, then write the entry, its products and
      // its event in one statement that writes nothing if the client was erased or the consent
      // withdrawn meanwhile; then the read runs again and names what changed.
      for (let attempt = 1; ; attempt++) {
        const context = await readForWrite({
          clientId,
          treatmentType: input.treatmentType,
          clinicIds: actor.clinicIds,
        });
        const { client } = inScope(ctx, clientId, context.client, 'journal.create');
        const cipher = await keys.cipherFromWrapped(clientId, context.key);
        const consentId = consentFor(context.covering, client, cipher, performedAt);
        const id = uuidv7();
        const row: EntryRow = {
          id,
          clientId,
          clinicId: client.clinicId,
          authorId: actor.userId,
          consentId,
          treatmentType: cipher.seal(JOURNAL_FIELDS.treatmentType, id, input.treatmentType),
          performedAt,
          notes: cipher.seal(JOURNAL_FIELDS.notes, id, input.notes),
          treatedAreas:
            input.treatedAreas === undefined
              ? null
              : cipher.seal(JOURNAL_FIELDS.treatedAreas, id, input.treatedAreas),
          products:
            products.length === 0 ? null : cipher.seal(JOURNAL_FIELDS.products, id, products),
          recordedLate: createdAt.getTime() - performedAt.getTime() > LATE_AFTER_MS,
          createdAt,
        };
        const written = await insertEntryWithEvent(
          pool,
          ctx,
          row,
          batchIndexes.map((batchIndex) => ({ id: uuidv7(), batchIndex })),
          [event('journal.create', clientId, { type: 'journal_entry', id })],
        );
        if (written) return presentEntry(cipher, row, []);
        if (attempt >= 3) {
          throw new Conflict(
            'The client or its consents changed while the entry was being written; try again.',
          );
        }
      }
    },

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
        return presentAmendment(cipher, row);
      });
    },

    async get(ctx: RequestContext, clientId: string, entryId: string): Promise<Entry> {
      const { breakGlass, cipher, entries, amendments } = await read(ctx, {
        clientId,
        entryId,
        limit: 1,
      });
      const entry = entries[0];
      if (!entry) throw new NotFound('Journal entry not found.');
      const result = presentEntry(cipher, entry, amendments);
      await audit.record(ctx, [
        { ...event('journal.read', clientId, { type: 'journal_entry', id: entryId }), breakGlass },
      ]);
      return result;
    },

    async list(
      ctx: RequestContext,
      clientId: string,
      query: { limit: number; after?: EntryCursor | undefined },
    ): Promise<{ items: Entry[]; last: EntryCursor | null }> {
      const { breakGlass, cipher, entries, amendments } = await read(ctx, {
        clientId,
        after: query.after,
        limit: query.limit + 1,
      });
      const page = entries.slice(0, query.limit);
      const items = page.map((row) => presentEntry(cipher, row, amendments));
      await audit.record(ctx, [{ ...event('journal.list', clientId, null), breakGlass }]);
      const last = page.at(-1);
      return {
        items,
        last:
          entries.length > query.limit && last
            ? { performedAt: last.performedAt, id: last.id }
            : null,
      };
    },

    /**
     * Every entry of a client with its amendments, oldest first, for the data-subject export
     * (which scopes the request and records the event itself).
     */
    async entriesFor(executor: Executor, clientId: string, cipher: ClientCipher): Promise<Entry[]> {
      const entries: Entry[] = [];
      let after: EntryCursor | undefined;
      for (;;) {
        const rows = await repo.pageEntries(executor, clientId, after, EXPORT_PAGE);
        const amendments = await repo.amendmentsOf(
          executor,
          rows.map((row) => row.id),
        );
        entries.push(...rows.map((row) => presentEntry(cipher, row, amendments)));
        const last = rows.at(-1);
        if (rows.length < EXPORT_PAGE || !last) return entries;
        after = { performedAt: last.performedAt, id: last.id };
      }
    },
  };
}

export type JournalService = ReturnType<typeof createJournalService>;
