import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import type { JournalProduct } from '../../db/schema/journal.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import { inScope, refuseWhileRestricted } from '../clients/clients.scope.js';
import { RESPONSE_FIELD } from '../idempotency/idempotency.repository.js';
import { event } from './journal.events.js';
import { JOURNAL_FIELDS, presentEntry } from './journal.fields.js';
import type { EntryRow } from './journal.repository.js';
import { CLOCK_SKEW_MS, consentFor, LATE_ENTRY_HOURS_DEFAULT } from './journal.rules.js';
import type { CreateEntryInput, Entry } from './journal.schemas.js';
import { createWriteContextReader, insertEntryWithEvent } from './journal.write.js';

export interface EntryCreatorDeps {
  db: Database;
  /** The pool under `db`, for the single-statement write. */
  pool: pg.Pool;
  keys: ClientKeys<Executor>;
  clock: () => Date;
  /** LATE_ENTRY_HOURS: an entry signed later than this after performedAt is recordedLate. */
  lateEntryHours?: number | undefined;
}

/** Writing a journal entry (API.md "Journal"): the rules, then one statement that writes it. */
export function createEntryCreator(deps: EntryCreatorDeps) {
  const { db, pool, keys, clock } = deps;
  const lateAfterMs = (deps.lateEntryHours ?? LATE_ENTRY_HOURS_DEFAULT) * 3_600_000;
  const readForWrite = createWriteContextReader(db);

  async function draftExists(draftId: string, authorId: string): Promise<boolean> {
    const { rowCount } = await pool.query(
      'SELECT 1 FROM journal_drafts WHERE id = $1 AND author_id = $2',
      [draftId, authorId],
    );
    return (rowCount ?? 0) > 0;
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
  };
}
