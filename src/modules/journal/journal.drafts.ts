import { and, asc, eq, gt, isNull } from 'drizzle-orm';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientCipher, ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { clients } from '../../db/schema/clients.js';
import { journalDrafts, type JournalDraftContent } from '../../db/schema/journal.js';
import { BadRequest, NotFound } from '../../errors.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { scopedClient } from '../clients/clients.scope.js';
import { JOURNAL_FIELDS } from './journal.fields.js';
import {
  createEntrySchema,
  type CreateDraftInput,
  type Draft,
  type DraftSummary,
  type Entry,
  type UpdateDraftInput,
} from './journal.schemas.js';
import type { JournalService } from './journal.service.js';

type DraftRow = typeof journalDrafts.$inferSelect;

/** Data access for drafts: always by their author (anyone else's draft does not exist). */
export const draftsRepository = {
  async insert(executor: Executor, row: DraftRow) {
    await executor.insert(journalDrafts).values(row);
  },

  async find(
    executor: Executor,
    where: { id: string; clientId: string; authorId: string },
    options: { forUpdate?: boolean } = {},
  ): Promise<DraftRow | undefined> {
    const query = executor
      .select()
      .from(journalDrafts)
      .where(
        and(
          eq(journalDrafts.id, where.id),
          eq(journalDrafts.clientId, where.clientId),
          eq(journalDrafts.authorId, where.authorId),
        ),
      );
    const [row] = options.forUpdate ? await query.for('update') : await query;
    return row;
  },

  async update(executor: Executor, id: string, changes: Pick<DraftRow, 'content' | 'updatedAt'>) {
    await executor.update(journalDrafts).set(changes).where(eq(journalDrafts.id, id));
  },

  async remove(executor: Executor, id: string) {
    await executor.delete(journalDrafts).where(eq(journalDrafts.id, id));
  },

  /** The author's drafts of live clients, oldest first (ids are time-ordered). */
  async pageOfAuthor(
    executor: Executor,
    authorId: string,
    after: string | undefined,
    limit: number,
  ) {
    return executor
      .select({ draft: journalDrafts })
      .from(journalDrafts)
      .innerJoin(clients, eq(clients.id, journalDrafts.clientId))
      .where(
        and(
          eq(journalDrafts.authorId, authorId),
          isNull(clients.erasedAt),
          after === undefined ? undefined : gt(journalDrafts.id, after),
        ),
      )
      .orderBy(asc(journalDrafts.id))
      .limit(limit);
  },
};

function content(input: CreateDraftInput): JournalDraftContent {
  const { products, ...rest } = input;
  return {
    ...rest,
    ...(products && {
      products: products.map((product) => ({
        name: product.name,
        batchNumber: product.batchNumber,
        quantity: product.quantity ?? null,
        unit: product.unit ?? null,
        supplier: product.supplier ?? null,
      })),
    }),
  };
}

function present(cipher: ClientCipher, row: DraftRow): Draft {
  const { products, ...fields } = cipher.open(JOURNAL_FIELDS.draftContent, row.id, row.content);
  return {
    id: row.id,
    clientId: row.clientId,
    authorId: row.authorId,
    ...fields,
    ...(products && {
      products: products.map((product) => ({ ...product, supplier: product.supplier ?? null })),
    }),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export interface DraftsServiceDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  clock: () => Date;
  journal: JournalService;
}

/**
 * Drafts (API.md "Journal"): what a practitioner writes during the treatment, before signing;
 * not part of the record (never exported), sealed like entries, seen by their author only.
 */
export function createDraftsService(deps: DraftsServiceDeps) {
  const { db, keys, audit, clock, journal } = deps;

  function event(action: string, clientId: string, draftId: string): AuditEventInput {
    return {
      action,
      outcome: 'success',
      resourceType: 'journal_draft',
      resourceId: draftId,
      clientId,
    };
  }

  async function mine(executor: Executor, ctx: RequestContext, clientId: string, id: string) {
    const row = await draftsRepository.find(
      executor,
      { id, clientId, authorId: actorOf(ctx).userId },
      { forUpdate: executor !== db },
    );
    if (!row) throw new NotFound('Journal draft not found.');
    return row;
  }

  return {
    async create(ctx: RequestContext, clientId: string, input: CreateDraftInput): Promise<Draft> {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal_draft.create');
        const cipher = await keys.cipherFor(tx, clientId);
        const id = uuidv7();
        const now = clock();
        const row: DraftRow = {
          id,
          clientId,
          authorId: actor.userId,
          content: cipher.seal(JOURNAL_FIELDS.draftContent, id, content(input)),
          createdAt: now,
          updatedAt: now,
        };
        await draftsRepository.insert(tx, row);
        await audit.write(tx, ctx, [event('journal_draft.create', clientId, id)]);
        const draft = present(cipher, row);
        await ctx.idempotency?.remember(tx, { clientId, body: draft });
        return draft;
      });
    },

    async get(ctx: RequestContext, clientId: string, draftId: string): Promise<Draft> {
      await scopedClient(db, ctx, clientId, 'journal_draft.read');
      const row = await mine(db, ctx, clientId, draftId);
      const draft = present(await keys.cipherFor(db, clientId), row);
      await audit.record(ctx, [event('journal_draft.read', clientId, draftId)]);
      return draft;
    },

    async update(
      ctx: RequestContext,
      clientId: string,
      draftId: string,
      patch: UpdateDraftInput,
    ): Promise<Draft> {
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal_draft.update');
        const row = await mine(tx, ctx, clientId, draftId);
        const cipher = await keys.cipherFor(tx, clientId);
        const merged: Record<string, unknown> = {
          ...cipher.open(JOURNAL_FIELDS.draftContent, row.id, row.content),
        };
        for (const [name, value] of Object.entries(patch)) {
          if (value === null) delete merged[name];
          else merged[name] = value;
        }
        const next: DraftRow = {
          ...row,
          content: cipher.seal(
            JOURNAL_FIELDS.draftContent,
            row.id,
            content(merged as CreateDraftInput),
          ),
          updatedAt: clock(),
        };
        await draftsRepository.update(tx, row.id, next);
        await audit.write(tx, ctx, [event('journal_draft.update', clientId, draftId)]);
        const draft = present(cipher, next);
        await ctx.idempotency?.remember(tx, { clientId, body: draft });
        return draft;
      });
    },

    async remove(ctx: RequestContext, clientId: string, draftId: string): Promise<void> {
      await db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'journal_draft.delete');
        await mine(tx, ctx, clientId, draftId);
        await draftsRepository.remove(tx, draftId);
        await audit.write(tx, ctx, [event('journal_draft.delete', clientId, draftId)]);
        await ctx.idempotency?.remember(tx, { clientId, body: null });
      });
    },

    /** The caller's unsigned drafts, oldest first: ids, clients, treatment type, dates. */
    async listMine(
      ctx: RequestContext,
      page: { limit: number; after: string | undefined },
    ): Promise<{ items: DraftSummary[]; last: string | null }> {
      const actor = actorOf(ctx);
      const rows = await draftsRepository.pageOfAuthor(
        db,
        actor.userId,
        page.after,
        page.limit + 1,
      );
      const drafts = rows.slice(0, page.limit).map((row) => row.draft);
      const items: DraftSummary[] = [];
      for (const row of drafts) {
        const opened = (await keys.cipherFor(db, row.clientId)).open(
          JOURNAL_FIELDS.draftContent,
          row.id,
          row.content,
        );
        items.push({
          id: row.id,
          clientId: row.clientId,
          treatmentType: opened.treatmentType ?? null,
          performedAt: opened.performedAt ?? null,
          createdAt: row.createdAt.toISOString(),
          updatedAt: row.updatedAt.toISOString(),
        });
      }
      await audit.record(
        ctx,
        drafts.length === 0
          ? [{ action: 'journal_draft.list', outcome: 'success', resourceType: 'journal_draft' }]
          : drafts.map((row) => event('journal_draft.list', row.clientId, row.id)),
      );
      return {
        items,
        last: rows.length > page.limit ? (drafts.at(-1)?.id ?? null) : null,
      };
    },

    /**
     * Signs a draft: the entry under the same rules as a direct write (400 naming each field
     * a complete entry lacks), and the draft is deleted by the entry's own statement.
     */
    async sign(ctx: RequestContext, clientId: string, draftId: string): Promise<Entry> {
      await scopedClient(db, ctx, clientId, 'journal.create');
      const row = await mine(db, ctx, clientId, draftId);
      const cipher = await keys.cipherFor(db, clientId);
      const { products, ...fields } = cipher.open(JOURNAL_FIELDS.draftContent, row.id, row.content);
      // Stored products spell absent parts as null; the entry's input leaves them out.
      const parsed = createEntrySchema.safeParse({
        ...fields,
        ...(products && {
          products: products.map((product) =>
            Object.fromEntries(Object.entries(product).filter(([, value]) => value !== null)),
          ),
        }),
      });
      if (!parsed.success) {
        throw new BadRequest(
          'The draft is not a complete journal entry yet.',
          parsed.error.issues.map((issue) => ({
            path: ['draft', ...issue.path.map(String)].join('.'),
            message: issue.message,
          })),
        );
      }
      return journal.create(ctx, clientId, parsed.data, { draftId });
    },
  };
}

export type DraftsService = ReturnType<typeof createDraftsService>;
