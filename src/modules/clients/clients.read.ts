import { actorOf, type RequestContext } from '../../access/context.js';
import { DataKeyNotFound, type ClientKeys } from '../../crypto/index.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, NotFound } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { rememberVersion } from './clients.etag.js';
import { event, nothingFound } from './clients.events.js';
import { presentClient } from './clients.fields.js';
import { legalHoldOf } from './clients.holds.js';
import { clientsRepository as repo, type ClientRow } from './clients.repository.js';
import type { Client, SearchClientsInput } from './clients.schemas.js';
import { scopedClient } from './clients.scope.js';

const SEARCH_LIMIT = 100;

export interface ClientReadsDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
}

/** Reading clients: one, a page, a search, and one for the data-subject export. */
export function createClientReads(deps: ClientReadsDeps) {
  const { db, keys, audit } = deps;

  /**
   * The rows as clients; one whose key is gone (an erasure that committed after the rows were
   * read) is left out, as it would be had the list been read a moment later.
   */
  async function presentAll(executor: Executor, rows: ClientRow[]): Promise<Client[]> {
    const presented = await Promise.all(
      rows.map(async (row) => {
        try {
          return presentClient(await keys.cipherFor(executor, row.id), row);
        } catch (error) {
          if (error instanceof DataKeyNotFound) return null;
          throw error;
        }
      }),
    );
    return presented.filter((client): client is Client => client !== null);
  }

  function allowedClinics(ctx: RequestContext, clinicId: string | undefined): readonly string[] {
    const { clinicIds } = actorOf(ctx);
    if (clinicId === undefined) return clinicIds;
    if (!clinicIds.includes(clinicId)) throw new NotFound('Clinic not found.');
    return [clinicId];
  }

  return {
    async get(ctx: RequestContext, id: string): Promise<Client> {
      const { client: row } = await scopedClient(db, ctx, id, 'client.read');
      const client = presentClient(await keys.cipherFor(db, id), row);
      rememberVersion(client, row.version);
      await audit.record(ctx, [event('client.read', id)]);
      return client;
    },

    async list(
      ctx: RequestContext,
      query: { clinicId?: string | undefined; limit: number; after?: string | undefined },
    ): Promise<{ items: Client[]; last: string | null }> {
      const rows = await repo.page(
        db,
        allowedClinics(ctx, query.clinicId),
        query.after,
        query.limit + 1,
      );
      const page = rows.slice(0, query.limit);
      const items = await presentAll(db, page);
      // One event per client returned; a list that returns nothing leaves one event too.
      await audit.record(
        ctx,
        items.length === 0
          ? [nothingFound('client.list', query.clinicId === undefined ? 'all_clinics' : 'clinic')]
          : items.map((client) => event('client.list', client.id)),
      );
      return { items, last: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null };
    },

    async search(ctx: RequestContext, input: SearchClientsInput): Promise<Client[]> {
      const indexes: Parameters<typeof repo.findByIndexes>[2] = {};
      const errors: { path: string; message: string }[] = [];
      for (const kind of ['email', 'phone', 'nationalId'] as const) {
        const value = input[kind];
        if (value === undefined) continue;
        try {
          indexes[kind] = await keys.blindIndex(kind, value);
        } catch {
          errors.push({ path: `body.${kind}`, message: `is not a valid ${kind}` });
        }
      }
      if (errors.length > 0) throw new BadRequest('The request is not valid.', errors);
      const rows = await repo.findByIndexes(db, actorOf(ctx).clinicIds, indexes, SEARCH_LIMIT);
      const items = await presentAll(db, rows);
      await audit.record(
        ctx,
        items.length === 0
          ? [nothingFound('client.search', Object.keys(indexes).sort().join(','))]
          : items.map((client) => event('client.search', client.id)),
      );
      return items;
    },

    /** For the data-subject export: the scoped client, its cipher and what it holds. */
    async openForExport(ctx: RequestContext, id: string) {
      const { client: row } = await scopedClient(db, ctx, id, 'client.export');
      const cipher = await keys.cipherFor(db, id);
      const marketing = await repo.marketingHistory(db, id);
      return {
        row,
        cipher,
        client: presentClient(cipher, row),
        legalHold: legalHoldOf(row, cipher),
        marketingHistory: marketing.map((entry) => ({
          optIn: entry.optIn,
          actorId: entry.actorId,
          at: entry.at.toISOString(),
        })),
      };
    },
  };
}
