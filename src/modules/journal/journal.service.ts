import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { BREAK_GLASS_HEADER } from '../../access/scope.js';
import type { AuthContext } from '../../access/types.js';
import { jsonField, textField, type ClientCipher, type ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import type { JournalProduct } from '../../db/schema/journal.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import type { AuditEventInput, AuditRecorder } from '../audit/audit.types.js';
import { inScope, scopedClient } from '../clients/clients.scope.js';
import { CLIENT_FIELDS } from '../clients/clients.service.js';
import {
  journalRepository as repo,
  readJournal,
  type AmendmentRow,
  type EntryCursor,
  type EntryRow,
  type JournalReadQuery,
  type CoveringConsent,
  insertEntryWithEvent,
  readForWrite,
} from './journal.repository.js';
import type {
  Amendment,
  CreateAmendmentInput,
  CreateEntryInput,
  Entry,
} from './journal.schemas.js';

/** Where each clinical part of the journal is sealed (under the client's data key). */
export const JOURNAL_FIELDS = {
  treatmentType: textField('journal_entries', 'treatment_type_enc'),
  notes: textField('journal_entries', 'notes_enc'),
  treatedAreas: jsonField<string[]>('journal_entries', 'treated_areas_enc'),
  products: jsonField<JournalProduct[]>('journal_entries', 'products_enc'),
  amendmentNotes: textField('journal_amendments', 'notes_enc'),
  amendmentReason: textField('journal_amendments', 'reason_enc'),
} as const;

/** An entry written more than this after the treatment is marked recordedLate. */
const EXPORT_PAGE = 500;

export const LATE_AFTER_MS = 24 * 60 * 60 * 1000;
const CLOCK_SKEW_MS = 60 * 1000;

export interface JournalServiceDeps {
  db: Database;
  /** The pool under `db`, for the prepared statement of the read path. */
  pool: pg.Pool;
  keys: ClientKeys;
  audit: AuditRecorder;
  now?: () => Date;
}

type Request = FastifyRequest;

/** Full years between a YYYY-MM-DD birth date and the UTC date of `on`. */
export function ageOn(dateOfBirth: string, on: Date): number {
  const [year, month, day] = dateOfBirth.split('-').map(Number) as [number, number, number];
  const age = on.getUTCFullYear() - year;
  const before =
    on.getUTCMonth() + 1 < month || (on.getUTCMonth() + 1 === month && on.getUTCDate() < day);
  return before ? age - 1 : age;
}

function ruleBroken(rule: string, detail: string): Conflict {
  return new Conflict(detail, { rule });
}

export function createJournalService(deps: JournalServiceDeps) {
  const { db, pool, keys, audit } = deps;
  const now = deps.now ?? (() => new Date());

  function event(
    action: string,
    clientId: string,
    resource: { type: string; id: string } | null,
    outcome: AuditEventInput['outcome'] = 'success',
  ): AuditEventInput {
    return {
      action,
      outcome,
      resourceType: resource?.type ?? 'client',
      resourceId: resource?.id ?? clientId,
      clientId,
    };
  }

  /**
   * The client if the caller may touch its journal: members of its clinic, and for reads a
   * practitioner of another clinic with a valid X-Break-Glass-Reason.
   */
  const scoped = (
    executor: Executor,
    request: Request,
    auth: AuthContext,
    clientId: string,
    action: string,
    options: { breakGlass: boolean },
  ) => scopedClient(audit, executor, request, auth, clientId, action, options);

  /**
   * A journal read in one round trip (the client's scope, its wrapped key and the entries),
   * then the same scope decision as every other client route (scopedClient): 404 and a
   * `denied` event for another clinic's client unless break-glass lets the practitioner in.
   */
  async function read(
    request: Request,
    auth: AuthContext,
    query: Pick<JournalReadQuery, 'clientId' | 'entryId' | 'after' | 'limit'>,
  ) {
    const found = await readJournal(pool, {
      ...query,
      clinicIds: auth.clinicIds,
      breakGlassRequested: request.headers[BREAK_GLASS_HEADER] !== undefined,
    });
    const { breakGlass } = await inScope(
      audit,
      request,
      auth,
      query.clientId,
      found.client,
      'journal.read',
      { breakGlass: true },
    );
    const cipher = await keys.cipherFromWrapped(query.clientId, found.key);
    return { breakGlass, cipher, entries: found.entries, amendments: found.amendments };
  }

  function presentAmendment(cipher: ClientCipher, row: AmendmentRow): Amendment {
    return {
      id: row.id,
      entryId: row.entryId,
      authorId: row.authorId,
      notes: cipher.open(JOURNAL_FIELDS.amendmentNotes, row.id, row.notes),
      reason: cipher.open(JOURNAL_FIELDS.amendmentReason, row.id, row.reason),
      createdAt: row.createdAt.toISOString(),
    };
  }

  function presentEntry(cipher: ClientCipher, row: EntryRow, amendments: AmendmentRow[]): Entry {
    return {
      id: row.id,
      clientId: row.clientId,
      authorId: row.authorId,
      consentId: row.consentId,
      treatmentType: cipher.open(JOURNAL_FIELDS.treatmentType, row.id, row.treatmentType),
      performedAt: row.performedAt.toISOString(),
      notes: cipher.open(JOURNAL_FIELDS.notes, row.id, row.notes),
      treatedAreas: row.treatedAreas
        ? cipher.open(JOURNAL_FIELDS.treatedAreas, row.id, row.treatedAreas)
        : [],
      products: row.products ? cipher.open(JOURNAL_FIELDS.products, row.id, row.products) : [],
      recordedLate: row.recordedLate,
      createdAt: row.createdAt.toISOString(),
      amendments: amendments
        .filter((amendment) => amendment.entryId === row.id)
        .map((amendment) => presentAmendment(cipher, amendment)),
    };
  }

  /**
   * The consent a treatment relies on, or a 409 naming the first rule no covering consent
   * satisfies: consent_missing, consent_withdrawn, consent_after_treatment, cooling_off,
   * minimum_age (API.md "Journal").
   */
  function consentFor(
    covering: CoveringConsent[],
    client: { id: string; dateOfBirth: Buffer },
    cipher: ClientCipher,
    performedAt: Date,
  ): string {
    if (covering.length === 0) {
      throw ruleBroken(
        'consent_missing',
        'No consent of this client covers this treatment type; record a signed consent first.',
      );
    }
    const active = covering.filter((row) => row.consent.status === 'active');
    if (active.length === 0) {
      throw ruleBroken(
        'consent_withdrawn',
        'Every consent covering this treatment type has been withdrawn.',
      );
    }
    const before = active.filter((row) => row.consent.signedAt <= performedAt);
    if (before.length === 0) {
      throw ruleBroken(
        'consent_after_treatment',
        'The consent covering this treatment was signed after it was performed.',
      );
    }
    const cooled = before.filter(
      (row) =>
        row.consent.signedAt.getTime() + (row.template.coolingOffHours ?? 0) * 3_600_000 <=
        performedAt.getTime(),
    );
    if (cooled.length === 0) {
      throw ruleBroken(
        'cooling_off',
        "The consent was signed less than the template's cooling-off period before the treatment.",
      );
    }
    const dateOfBirth = cipher.open(CLIENT_FIELDS.dateOfBirth, client.id, client.dateOfBirth);
    const age = ageOn(dateOfBirth, performedAt);
    const eligible = cooled.find((row) => age >= (row.template.minimumAge ?? 0));
    if (!eligible) {
      throw ruleBroken(
        'minimum_age',
        "The client was younger than the template's minimum age on the day of the treatment.",
      );
    }
    return eligible.consent.id;
  }

  return {
    async create(
      request: Request,
      auth: AuthContext,
      clientId: string,
      input: CreateEntryInput,
    ): Promise<Entry> {
      const createdAt = now();
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
        const context = await readForWrite(pool, {
          clientId,
          treatmentType: input.treatmentType,
          clinicIds: auth.clinicIds,
        });
        const { client } = await inScope(
          audit,
          request,
          auth,
          clientId,
          context.client,
          'journal.create',
        );
        const cipher = await keys.cipherFromWrapped(clientId, context.key);
        const consentId = consentFor(context.covering, client, cipher, performedAt);
        const id = uuidv7();
        const row: EntryRow = {
          id,
          clientId,
          clinicId: client.clinicId,
          authorId: auth.userId,
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
          row,
          batchIndexes.map((batchIndex) => ({ id: uuidv7(), batchIndex })),
          audit.statementValues(request, [
            event('journal.create', clientId, { type: 'journal_entry', id }),
          ]),
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
      request: Request,
      auth: AuthContext,
      clientId: string,
      entryId: string,
      input: CreateAmendmentInput,
    ): Promise<Amendment> {
      return db.transaction(async (tx) => {
        await scoped(tx, request, auth, clientId, 'journal.amend', { breakGlass: false });
        const entry = await repo.findEntry(tx, clientId, entryId);
        if (!entry) throw new NotFound('Journal entry not found.');
        const cipher = await keys.cipherFor(tx, clientId);
        const id = uuidv7();
        const row = await repo.insertAmendment(tx, {
          id,
          entryId,
          clientId,
          authorId: auth.userId,
          notes: cipher.seal(JOURNAL_FIELDS.amendmentNotes, id, input.notes),
          reason: cipher.seal(JOURNAL_FIELDS.amendmentReason, id, input.reason),
          createdAt: now(),
        });
        await audit.recordInTransaction(tx, request, [
          event('journal.amend', clientId, { type: 'journal_entry', id: entryId }),
        ]);
        return presentAmendment(cipher, row);
      });
    },

    async get(
      request: Request,
      auth: AuthContext,
      clientId: string,
      entryId: string,
    ): Promise<Entry> {
      const { breakGlass, cipher, entries, amendments } = await read(request, auth, {
        clientId,
        entryId,
        limit: 1,
      });
      const entry = entries[0];
      if (!entry) throw new NotFound('Journal entry not found.');
      const result = presentEntry(cipher, entry, amendments);
      await audit.record(request, [
        { ...event('journal.read', clientId, { type: 'journal_entry', id: entryId }), breakGlass },
      ]);
      return result;
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

    async list(
      request: Request,
      auth: AuthContext,
      clientId: string,
      query: { limit: number; after?: EntryCursor },
    ): Promise<{ items: Entry[]; last: EntryCursor | null }> {
      const { breakGlass, cipher, entries, amendments } = await read(request, auth, {
        clientId,
        after: query.after,
        limit: query.limit + 1,
      });
      const page = entries.slice(0, query.limit);
      const items = page.map((row) => presentEntry(cipher, row, amendments));
      await audit.record(request, [{ ...event('journal.list', clientId, null), breakGlass }]);
      const last = page.at(-1);
      return {
        items,
        last:
          entries.length > query.limit && last
            ? { performedAt: last.performedAt, id: last.id }
            : null,
      };
    },
  };
}

export type JournalService = ReturnType<typeof createJournalService>;
