import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientCipher, ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import type { JournalProduct } from '../../db/schema/journal.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../errors.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { inScope, refuseWhileRestricted, scopedClient } from '../clients/clients.scope.js';
import {
  JOURNAL_FIELDS,
  presentAmendment,
  presentEntry,
  presentStatement,
} from './journal.fields.js';
import { createJournalReader, type JournalReadQuery } from './journal.read.js';
import {
  journalRepository as repo,
  type EntryCursor,
  type EntryRow,
} from './journal.repository.js';
import { CLOCK_SKEW_MS, consentFor, LATE_ENTRY_HOURS_DEFAULT } from './journal.rules.js';
import type {
  Amendment,
  CreateAmendmentInput,
  CreateEntryInput,
  Entry,
  Statement,
} from './journal.schemas.js';
import { createWriteContextReader, insertEntryWithEvent } from './journal.write.js';
import { RESPONSE_FIELD } from '../idempotency/idempotency.repository.js';

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
  /** LATE_ENTRY_HOURS: an entry signed later than this after performedAt is recordedLate. */
  lateEntryHours?: number | undefined;
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
  const lateAfterMs = (deps.lateEntryHours ?? LATE_ENTRY_HOURS_DEFAULT) * 3_600_000;
  const readJournal = createJournalReader(db);
  const readForWrite = createWriteContextReader(db);

  /**
   * A journal read in one round trip (the client's scope, its wrapped key and the entries),
   * then the same scope decision as every other client route: 404 and a `denied` event for
   * another clinic's client unless break-glass lets the practitioner in.
   */
  async function read(
    ctx: RequestContext,
    query: Pick<
      JournalReadQuery,
      'clientId' | 'entryId' | 'after' | 'limit' | 'includeEnteredInError'
    >,
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
    return { breakGlass, cipher, entries: found.entries, additions: found.additions };
  }

  async function draftExists(draftId: string, authorId: string): Promise<boolean> {
    const { rowCount } = await pool.query(
      'SELECT 1 FROM journal_drafts WHERE id = $1 AND author_id = $2',
      [draftId, authorId],
    );
    return (rowCount ?? 0) > 0;
  }

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
    /**
     * Writes an entry (or signs a draft into one: the draft is deleted by the same statement,
     * and the write fails with 404 if the draft went away meanwhile).
     */
    async create(
      ctx: RequestContext,
      clientId: string,
      input: CreateEntryInput,
      options: { draftId?: string } = {},
    ): Promise<Entry> {
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
        supplier: product.supplier ?? null,
      }));
      const performedBy = input.performedBy ?? actor.userId;
      const responsibleId = input.responsibleId ?? null;
      const staffIds = [...new Set([performedBy, responsibleId ?? performedBy])];
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
          performedAt,
          staffIds,
        });
        const { client } = inScope(ctx, clientId, context.client, 'journal.create');
        refuseWhileRestricted(client, clientId, 'journal.create');
        const staff = new Map(context.staff.map((member) => [member.id, member]));
        const performer = staff.get(performedBy);
        if (!performer?.practitionerOfClinic) {
          throw Conflict.rule(
            'performer_not_allowed',
            "performedBy must be a practitioner of the client's clinic.",
          );
        }
        const responsible = responsibleId === null ? undefined : staff.get(responsibleId);
        if (
          responsibleId !== null &&
          !(responsible?.practitionerOfClinic && responsible.authorised)
        ) {
          throw Conflict.rule(
            'responsible_not_authorised',
            "responsibleId must be an authorised practitioner (with an authorisationId) of the client's clinic.",
          );
        }
        const cipher = await keys.cipherFromWrapped(clientId, context.key);
        const consentId = consentFor(context.covering, client, cipher, performedAt, {
          authorised: performer.authorised || (responsible?.authorised ?? false),
          inkRecordComplete:
            products.length > 0 && products.every((product) => product.supplier !== null),
        });
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
          recordedLate: createdAt.getTime() - performedAt.getTime() > lateAfterMs,
          createdAt,
          performedBy,
          responsibleId,
        };
        const entry = presentEntry(cipher, row);
        const claim = ctx.idempotency?.rowFor({
          clientId,
          seal: (rowId) => cipher.seal(RESPONSE_FIELD, rowId, entry),
        });
        const events = [event('journal.create', clientId, { type: 'journal_entry', id })];
        if (options.draftId !== undefined) {
          events.push(
            event('journal_draft.sign', clientId, { type: 'journal_draft', id: options.draftId }),
          );
        }
        const written = await insertEntryWithEvent(
          pool,
          ctx,
          row,
          batchIndexes.map((batchIndex) => ({ id: uuidv7(), batchIndex })),
          events,
          claim,
          options.draftId ?? null,
        );
        if (written) return entry;
        if (options.draftId !== undefined && !(await draftExists(options.draftId, actor.userId))) {
          throw new NotFound('Journal draft not found.');
        }
        // Nothing written: a concurrent duplicate holds the key (409), or the read changed.
        await ctx.idempotency?.assertFree(db);
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

    async get(ctx: RequestContext, clientId: string, entryId: string): Promise<Entry> {
      const { breakGlass, cipher, entries, additions } = await read(ctx, {
        clientId,
        entryId,
        limit: 1,
      });
      const entry = entries[0];
      if (!entry) throw new NotFound('Journal entry not found.');
      const result = presentEntry(cipher, entry, additions);
      await audit.record(ctx, [
        { ...event('journal.read', clientId, { type: 'journal_entry', id: entryId }), breakGlass },
      ]);
      return result;
    },

    async list(
      ctx: RequestContext,
      clientId: string,
      query: {
        limit: number;
        after?: EntryCursor | undefined;
        includeEnteredInError?: boolean | undefined;
      },
    ): Promise<{ items: Entry[]; last: EntryCursor | null }> {
      const { breakGlass, cipher, entries, additions } = await read(ctx, {
        clientId,
        after: query.after,
        limit: query.limit + 1,
        includeEnteredInError: query.includeEnteredInError,
      });
      const page = entries.slice(0, query.limit);
      const items = page.map((row) => presentEntry(cipher, row, additions));
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
        const additions = await repo.additionsOf(
          executor,
          rows.map((row) => row.id),
        );
        entries.push(...rows.map((row) => presentEntry(cipher, row, additions)));
        const last = rows.at(-1);
        if (rows.length < EXPORT_PAGE || !last) return entries;
        after = { performedAt: last.performedAt, id: last.id };
      }
    },
  };
}

export type JournalService = ReturnType<typeof createJournalService>;
