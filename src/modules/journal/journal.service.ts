import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientCipher, ClientKeys } from '../../crypto/index.js';
import type { Database, Executor } from '../../db/pool.js';
import { NotFound } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { inScope } from '../clients/clients.scope.js';
import { createEntryAdditions } from './journal.additions.js';
import { createEntryCreator } from './journal.create.js';
import { event } from './journal.events.js';
import { presentEntry } from './journal.fields.js';
import { createJournalReader, type JournalReadQuery } from './journal.read.js';
import { journalRepository as repo, type EntryCursor } from './journal.repository.js';
import type { Entry } from './journal.schemas.js';

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

/** The treatment journal (API.md "Journal"): entries never change; amendments sit beside them. */
export function createJournalService(deps: JournalServiceDeps) {
  const { db, keys, audit } = deps;
  const readJournal = createJournalReader(db, deps.pool);

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

  return {
    ...createEntryCreator(deps),
    ...createEntryAdditions(deps),

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
