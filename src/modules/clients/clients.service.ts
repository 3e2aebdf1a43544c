import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../../access/types.js';
import {
  birthDateFromNationalId,
  jsonField,
  textField,
  type ClientCipher,
  type EncryptedField,
  type ClientKeys,
  type Sealed,
} from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import type { AuditEventInput, AuditRecorder } from '../audit/audit.types.js';
import { scopedClient } from './clients.scope.js';
import {
  clientsRepository as repo,
  type ClientRow,
  type NewClientRow,
} from './clients.repository.js';
import type {
  Address,
  Client,
  CreateClientInput,
  SearchClientsInput,
  UpdateClientInput,
} from './clients.schemas.js';

/** Where each personal field of a client row is sealed (bound into its ciphertext). */
export const CLIENT_FIELDS = {
  firstName: textField('clients', 'first_name_enc'),
  lastName: textField('clients', 'last_name_enc'),
  dateOfBirth: textField('clients', 'date_of_birth_enc'),
  nationalId: textField('clients', 'national_id_enc'),
  email: textField('clients', 'email_enc'),
  phone: textField('clients', 'phone_enc'),
  address: jsonField<Address>('clients', 'address_enc'),
  legalHoldReason: textField('clients', 'legal_hold_reason_enc'),
} as const;

/** When the newest journal entry of a client was performed (the retention clock), if any. */
export interface RetentionSource {
  newestEntryAt(executor: Executor, clientId: string): Promise<Date | null>;
  /** Live clients whose newest entry was performed before `cutoff` (and who have one). */
  clientsWithNewestEntryBefore(executor: Executor, cutoff: Date): Promise<string[]>;
}

export interface ClientsServiceDeps {
  db: Database;
  keys: ClientKeys;
  audit: AuditRecorder;
  retentionYears: number;
  retention: RetentionSource;
  now?: () => Date;
}

type Request = FastifyRequest | null;

const SEARCH_LIMIT = 100;

export function createClientsService(deps: ClientsServiceDeps) {
  const { db, keys, audit } = deps;
  const now = deps.now ?? (() => new Date());

  function present(cipher: ClientCipher, row: ClientRow): Client {
    const open = <T>(field: EncryptedField<T>, sealed: Sealed<T> | null): T | null =>
      sealed === null ? null : cipher.open(field, row.id, sealed);
    return {
      id: row.id,
      clinicId: row.clinicId,
      firstName: cipher.open(CLIENT_FIELDS.firstName, row.id, row.firstName),
      lastName: cipher.open(CLIENT_FIELDS.lastName, row.id, row.lastName),
      dateOfBirth: cipher.open(CLIENT_FIELDS.dateOfBirth, row.id, row.dateOfBirth),
      nationalId: open(CLIENT_FIELDS.nationalId, row.nationalId),
      email: open(CLIENT_FIELDS.email, row.email),
      phone: open(CLIENT_FIELDS.phone, row.phone),
      address: open(CLIENT_FIELDS.address, row.address),
      marketingOptIn: row.marketingOptIn,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }

  async function presentAll(executor: Executor, rows: ClientRow[]): Promise<Client[]> {
    return Promise.all(
      rows.map(async (row) => present(await keys.cipherFor(executor, row.id), row)),
    );
  }

  /**
   * The blind indexes of what is given (`null` clears one). Computed before a transaction
   * opens, as the journal does: the index key is loaded through the pool on first use (and
   * again after a failed load), so computing it inside a transaction waited for a second
   * connection while holding one, and with as many concurrent writes as the pool has
   * connections none ever came (every create then answered 503 after the connect timeout).
   */
  async function indexesOf(input: Partial<CreateClientInput>): Promise<Partial<NewClientRow>> {
    const indexes: Partial<NewClientRow> = {};
    if (input.nationalId !== undefined) {
      indexes.nationalIdIndex =
        input.nationalId === null ? null : await keys.blindIndex('nationalId', input.nationalId);
    }
    if (input.email !== undefined) {
      indexes.emailIndex =
        input.email === null ? null : await keys.blindIndex('email', input.email);
    }
    if (input.phone !== undefined) {
      indexes.phoneIndex =
        input.phone === null ? null : await keys.blindIndex('phone', input.phone);
    }
    return indexes;
  }

  /** Seals what is given; `null` clears a field, `undefined` leaves it alone. */
  function sealChanges(
    cipher: ClientCipher,
    id: string,
    input: Partial<CreateClientInput>,
  ): Partial<NewClientRow> {
    const changes: Partial<NewClientRow> = {};
    const sealOptional = <T>(field: EncryptedField<T>, value: T | null): Sealed<T> | null =>
      value === null ? null : cipher.seal(field, id, value);
    if (input.firstName !== undefined)
      changes.firstName = cipher.seal(CLIENT_FIELDS.firstName, id, input.firstName);
    if (input.lastName !== undefined)
      changes.lastName = cipher.seal(CLIENT_FIELDS.lastName, id, input.lastName);
    if (input.dateOfBirth !== undefined) {
      changes.dateOfBirth = cipher.seal(CLIENT_FIELDS.dateOfBirth, id, input.dateOfBirth);
    }
    if (input.nationalId !== undefined) {
      changes.nationalId = sealOptional(CLIENT_FIELDS.nationalId, input.nationalId);
    }
    if (input.email !== undefined) {
      changes.email = sealOptional(CLIENT_FIELDS.email, input.email);
    }
    if (input.phone !== undefined) {
      changes.phone = sealOptional(CLIENT_FIELDS.phone, input.phone);
    }
    if (input.address !== undefined) {
      changes.address = sealOptional(CLIENT_FIELDS.address, input.address);
    }
    return changes;
  }

  function assertBirthDateMatches(nationalId: string | null | undefined, dateOfBirth: string) {
    if (nationalId == null) return;
    if (birthDateFromNationalId(nationalId) !== dateOfBirth) {
      throw new BadRequest('The request is not valid.', [
        { path: 'body.nationalId', message: 'the CPR number does not match dateOfBirth' },
      ]);
    }
  }

  function event(
    action: string,
    clientId: string,
    outcome: AuditEventInput['outcome'] = 'success',
  ): AuditEventInput {
    return { action, outcome, resourceType: 'client', resourceId: clientId, clientId };
  }

  const scoped = async (
    executor: Executor,
    request: Request,
    auth: AuthContext,
    id: string,
    action: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<ClientRow> =>
    (await scopedClient(audit, executor, request, auth, id, action, options)).client;

  function allowedClinics(auth: AuthContext, clinicId: string | undefined): string[] {
    if (clinicId === undefined) return auth.clinicIds;
    if (!auth.clinicIds.includes(clinicId)) throw new NotFound('Clinic not found.');
    return [clinicId];
  }

  /**
   * Erasure by crypto-shredding, on a row locked by the caller's transaction: refused while
   * on legal hold or inside the retention period (counted from the newest journal entry);
   * otherwise the data key is destroyed, the blind indexes cleared and the client answers 404
   * from then on. Audit events stay: ids only.
   */
  async function shred(tx: Executor, request: Request, row: ClientRow, reason: string | null) {
    if (row.legalHold) {
      throw new Conflict('The client is on legal hold; nothing of theirs may be erased.', {
        rule: 'legal_hold',
      });
    }
    const newest = await deps.retention.newestEntryAt(tx, row.id);
    if (newest !== null) {
      const retainUntil = new Date(newest);
      retainUntil.setUTCFullYear(retainUntil.getUTCFullYear() + deps.retentionYears);
      if (retainUntil > now()) {
        throw new Conflict('The journal must be kept until the retention period ends.', {
          rule: 'retention',
          retainUntil: retainUntil.toISOString(),
        });
      }
    }
    await keys.destroy(tx, row.id);
    await repo.update(tx, row.id, {
      erasedAt: now(),
      emailIndex: null,
      phoneIndex: null,
      nationalIdIndex: null,
    });
    await audit.recordInTransaction(tx, request, [{ ...event('client.erase', row.id), reason }]);
  }

  return {
    async create(request: Request, auth: AuthContext, input: CreateClientInput): Promise<Client> {
      if (!auth.clinicIds.includes(input.clinicId)) throw new NotFound('Clinic not found.');
      assertBirthDateMatches(input.nationalId, input.dateOfBirth);
      const id = uuidv7();
      const indexes = await indexesOf(input);
      return db.transaction(async (tx) => {
        const cipher = await keys.createForClient(tx, id);
        const sealed = { ...sealChanges(cipher, id, input), ...indexes };
        const row = await repo.insert(tx, {
          ...sealed,
          id,
          clinicId: input.clinicId,
          firstName: sealed.firstName!,
          lastName: sealed.lastName!,
          dateOfBirth: sealed.dateOfBirth!,
          marketingOptIn: input.marketingOptIn ?? false,
        });
        await repo.recordMarketingChange(tx, id, row.marketingOptIn, auth.userId);
        await audit.recordInTransaction(tx, request, [event('client.create', id)]);
        return present(cipher, row);
      });
    },

    async get(request: Request, auth: AuthContext, id: string): Promise<Client> {
      const row = await scoped(db, request, auth, id, 'client.read');
      const client = present(await keys.cipherFor(db, id), row);
      await audit.record(request, [event('client.read', id)]);
      return client;
    },

    async list(
      request: Request,
      auth: AuthContext,
      query: { clinicId?: string; limit: number; after?: string },
    ): Promise<{ items: Client[]; last: string | null }> {
      const rows = await repo.page(
        db,
        allowedClinics(auth, query.clinicId),
        query.after,
        query.limit + 1,
      );
      const page = rows.slice(0, query.limit);
      const items = await presentAll(db, page);
      await audit.record(
        request,
        items.map((client) => event('client.list', client.id)),
      );
      return { items, last: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null };
    },

    async search(
      request: Request,
      auth: AuthContext,
      input: SearchClientsInput,
    ): Promise<Client[]> {
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
      const rows = await repo.findByIndexes(db, auth.clinicIds, indexes, SEARCH_LIMIT);
      const items = await presentAll(db, rows);
      await audit.record(
        request,
        items.map((client) => event('client.search', client.id)),
      );
      return items;
    },

    async update(
      request: Request,
      auth: AuthContext,
      id: string,
      patch: UpdateClientInput,
    ): Promise<Client> {
      const indexes = await indexesOf(patch);
      return db.transaction(async (tx) => {
        const current = await scoped(tx, request, auth, id, 'client.update', { forUpdate: true });
        const cipher = await keys.cipherFor(tx, id);
        const before = present(cipher, current);
        assertBirthDateMatches(
          patch.nationalId === undefined ? before.nationalId : patch.nationalId,
          patch.dateOfBirth ?? before.dateOfBirth,
        );
        const changes = { ...sealChanges(cipher, id, patch), ...indexes };
        if (patch.marketingOptIn !== undefined) changes.marketingOptIn = patch.marketingOptIn;
        const row = await repo.update(tx, id, changes);
        if (patch.marketingOptIn !== undefined && patch.marketingOptIn !== current.marketingOptIn) {
          await repo.recordMarketingChange(tx, id, patch.marketingOptIn, auth.userId);
        }
        await audit.recordInTransaction(tx, request, [event('client.update', id)]);
        return present(cipher, row);
      });
    },

    async setLegalHold(
      request: Request,
      auth: AuthContext,
      id: string,
      change: { active: boolean; reason: string },
    ) {
      return db.transaction(async (tx) => {
        await scoped(tx, request, auth, id, 'client.legal_hold', { forUpdate: true });
        const cipher = await keys.cipherFor(tx, id);
        const row = await repo.update(tx, id, {
          legalHold: change.active,
          legalHoldReason: change.active
            ? cipher.seal(CLIENT_FIELDS.legalHoldReason, id, change.reason)
            : null,
          legalHoldSince: change.active ? now() : null,
        });
        await audit.recordInTransaction(tx, request, [
          { ...event('client.legal_hold', id), reason: change.active ? 'hold_on' : 'hold_off' },
        ]);
        return {
          clientId: id,
          active: row.legalHold,
          reason: row.legalHoldReason
            ? cipher.open(CLIENT_FIELDS.legalHoldReason, id, row.legalHoldReason)
            : null,
          since: row.legalHoldSince?.toISOString() ?? null,
        };
      });
    },

    /**
     * Erasure by crypto-shredding: refused while on legal hold or inside the retention period
     * (counted from the newest journal entry); otherwise the data key is destroyed, the blind
     * indexes cleared and the client answers 404 from then on. Audit events stay: ids only.
     */
    async erase(request: Request, auth: AuthContext, id: string): Promise<void> {
      await db.transaction(async (tx) => {
        const row = await scoped(tx, request, auth, id, 'client.erase', { forUpdate: true });
        await shred(tx, request, row, null);
      });
    },

    /**
     * For `purge-expired`: erases a client whose retention has run out, with the same checks
     * as the admin route (legal hold, retention) made again under the row lock. Returns
     * whether it erased (false: gone already, on hold, or retained after all).
     */
    async eraseExpired(id: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const row = await repo.findLive(tx, id, { forUpdate: true });
        if (!row) return false;
        try {
          await shred(tx, null, row, 'retention_expired');
          return true;
        } catch (error) {
          if (error instanceof Conflict) return false;
          throw error;
        }
      });
    },

    /** Ids of live clients whose newest journal entry is older than the retention period. */
    async expiredClientIds(): Promise<string[]> {
      const cutoff = now();
      cutoff.setUTCFullYear(cutoff.getUTCFullYear() - deps.retentionYears);
      return deps.retention.clientsWithNewestEntryBefore(db, cutoff);
    },

    /** For the data-subject export and other modules: the scoped client and its cipher. */
    async openForExport(request: Request, auth: AuthContext, id: string) {
      const row = await scoped(db, request, auth, id, 'client.export');
      const cipher = await keys.cipherFor(db, id);
      const marketing = await repo.marketingHistory(db, id);
      return {
        row,
        cipher,
        client: present(cipher, row),
        legalHold: {
          active: row.legalHold,
          reason: row.legalHoldReason
            ? cipher.open(CLIENT_FIELDS.legalHoldReason, id, row.legalHoldReason)
            : null,
          since: row.legalHoldSince?.toISOString() ?? null,
        },
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
