import { actorOf, type RequestContext } from '../../access/context.js';
import { birthDateFromNationalId, type ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, NotFound, PreconditionFailed } from '../../errors.js';
import { ifMatchHolds } from '../../schemas/etag.js';
import type { AuditDoor } from '../audit/audit.types.js';
import {
  createErasure,
  type AttachmentContentRemover,
  type RetentionSource,
} from './clients.erasure.js';
import { rememberVersion } from './clients.etag.js';
import { event } from './clients.events.js';
import { clientIndexes, presentClient, sealClientChanges } from './clients.fields.js';
import { createClientHolds } from './clients.holds.js';
import { createClientReads } from './clients.read.js';
import { clientsRepository as repo } from './clients.repository.js';
import type { Client, CreateClientInput, UpdateClientInput } from './clients.schemas.js';
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
  const { db, keys, audit } = deps;

  return {
    ...createErasure(deps),
    ...createClientReads(deps),
    ...createClientHolds(deps),

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
        rememberVersion(client, row.version);
        await ctx.idempotency?.remember(tx, { clientId: id, body: client });
        return client;
      });
    },
  };
}

export type ClientsService = ReturnType<typeof createClientsService>;
