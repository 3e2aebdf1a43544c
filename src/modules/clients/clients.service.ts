import { actorOf, type RequestContext } from '../../access/context.js';
import { birthDateFromNationalId, DataKeyNotFound, type ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, NotFound, PreconditionFailed } from '../../errors.js';
import { etagOf, ifMatchHolds } from '../../schemas/etag.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import {
  createErasure,
  type AttachmentContentRemover,
  type RetentionSource,
} from './clients.erasure.js';
import {
  CLIENT_FIELDS,
  clientIndexes,
  presentClient,
  sealClientChanges,
} from './clients.fields.js';
import { clientsRepository as repo, type ClientRow } from './clients.repository.js';
import type {
  Client,
  CreateClientInput,
  SearchClientsInput,
  UpdateClientInput,
} from './clients.schemas.js';
import { refuseWhileRestricted, scopedClient } from './clients.scope.js';

export type { AttachmentContentRemover, RetentionSource } from './clients.erasure.js';

export interface ClientsServiceDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  retentionYears: number;
  retention: RetentionSource;
  clock: () => Date;
  /** Erased attachments' content outside the database (clients.erasure.ts). */
  attachmentContent?: AttachmentContentRemover;
}

const SEARCH_LIMIT = 100;

/** The version each client answer was read at, for its ETag (set by get and update). */
const versions = new WeakMap<Client, number>();

/** A client's strong ETag: its version counter, never a personal value. */
export function clientEtag(client: Client): string | undefined {
  const version = versions.get(client);
  return version === undefined ? undefined : etagOf(version);
}

function event(action: string, clientId: string): AuditEventInput {
  return { action, outcome: 'success', resourceType: 'client', resourceId: clientId, clientId };
}

/**
 * The one event of a list or search that returned nothing (API.md "What is audited"): its kind
 * (e.g. which fields were searched by), never the value.
 */
function nothingFound(action: string, kind: string): AuditEventInput {
  return { action, outcome: 'success', resourceType: 'client', reason: `none_found:${kind}` };
}

function assertBirthDateMatches(nationalId: string | null | undefined, dateOfBirth: string) {
  if (nationalId == null) return;
  if (birthDateFromNationalId(nationalId) !== dateOfBirth) {
    throw new BadRequest('The request is not valid.', [
      { path: 'body.nationalId', message: 'the CPR number does not match dateOfBirth' },
    ]);
  }
}

/** Clients and the data-subject requests about them (API.md "Clients"). */
export function createClientsService(deps: ClientsServiceDeps) {
  const { db, keys, audit, clock } = deps;

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

  function legalHoldOf(row: ClientRow, cipher: Awaited<ReturnType<typeof keys.cipherFor>>) {
    return {
      active: row.legalHold,
      reason: row.legalHoldReason
        ? cipher.open(CLIENT_FIELDS.legalHoldReason, row.id, row.legalHoldReason)
        : null,
      since: row.legalHoldSince?.toISOString() ?? null,
    };
  }

  return {
    ...createErasure(deps),

    async create(ctx: RequestContext, input: CreateClientInput): Promise<Client> {
      const actor = actorOf(ctx);
      if (!actor.clinicIds.includes(input.clinicId)) throw new NotFound('Clinic not found.');
      assertBirthDateMatches(input.nationalId, input.dateOfBirth);
      const id = uuidv7();
      const indexes = await clientIndexes(keys, input);
      return db.transaction(async (tx) => {
        const cipher = await keys.createForClient(tx, id);
        const sealed = { ...sealClientChanges(cipher, id, input), ...indexes };
        const row = await repo.insert(tx, {
          ...sealed,
          id,
          clinicId: input.clinicId,
          firstName: sealed.firstName!,
          lastName: sealed.lastName!,
          dateOfBirth: sealed.dateOfBirth!,
          marketingOptIn: input.marketingOptIn ?? false,
        });
        await repo.recordMarketingChange(tx, id, row.marketingOptIn, actor.userId);
        await audit.write(tx, ctx, [event('client.create', id)]);
        const client = presentClient(cipher, row);
        await ctx.idempotency?.remember(tx, { clientId: id, body: client });
        return client;
      });
    },

    async get(ctx: RequestContext, id: string): Promise<Client> {
      const { client: row } = await scopedClient(db, ctx, id, 'client.read');
      const client = presentClient(await keys.cipherFor(db, id), row);
      versions.set(client, row.version);
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

    async update(
      ctx: RequestContext,
      id: string,
      patch: UpdateClientInput,
      options: { ifMatch?: string | undefined } = {},
    ): Promise<Client> {
      const actor = actorOf(ctx);
      const indexes = await clientIndexes(keys, patch);
      return db.transaction(async (tx) => {
        const { client: current } = await scopedClient(tx, ctx, id, 'client.update', {
          forUpdate: true,
        });
        if (options.ifMatch !== undefined && !ifMatchHolds(options.ifMatch, current.version)) {
          throw new PreconditionFailed(
            'The client has changed since you read it (If-Match); read it again and retry.',
          );
        }
        refuseWhileRestricted(current, id, 'client.update');
        const cipher = await keys.cipherFor(tx, id);
        const before = presentClient(cipher, current);
        assertBirthDateMatches(
          patch.nationalId === undefined ? before.nationalId : patch.nationalId,
          patch.dateOfBirth ?? before.dateOfBirth,
        );
        const changes = { ...sealClientChanges(cipher, id, patch), ...indexes };
        if (patch.marketingOptIn !== undefined) changes.marketingOptIn = patch.marketingOptIn;
        const row = await repo.update(tx, id, changes);
        if (patch.marketingOptIn !== undefined && patch.marketingOptIn !== current.marketingOptIn) {
          await repo.recordMarketingChange(tx, id, patch.marketingOptIn, actor.userId);
        }
        await audit.write(tx, ctx, [event('client.update', id)]);
        const client = presentClient(cipher, row);
        versions.set(client, row.version);
        await ctx.idempotency?.remember(tx, { clientId: id, body: client });
        return client;
      });
    },

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

export type ClientsService = ReturnType<typeof createClientsService>;
