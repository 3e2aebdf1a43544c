import { createHash } from 'node:crypto';
import { actorOf, type RequestContext } from '../../access/context.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database } from '../../db/pool.js';
import { isUniqueViolation } from '../../db/errors.js';
import { NotFound, ServiceUnavailable } from '../../errors.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { templatesRepository as repo, type TemplateRow } from './templates.repository.js';
import { PHOTO_SCOPES, type PublishTemplateInput, type Template } from './templates.schemas.js';

export interface TemplatesServiceDeps {
  db: Database;
  audit: AuditDoor;
  /** A version's publication time: a consent on an earlier version is outdated from then on. */
  clock?: () => Date;
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function presentTemplate(row: TemplateRow): Template {
  return {
    id: row.id,
    key: row.key,
    version: row.version,
    title: row.title,
    body: row.body,
    bodyHash: row.bodyHash,
    treatmentTypes: row.treatmentTypes,
    language: row.language,
    minimumAge: row.minimumAge,
    coolingOffHours: row.coolingOffHours,
    requiresAuthorisation: row.requiresAuthorisation,
    inkRecordRequired: row.inkRecordRequired,
    retentionYears: row.retentionYears,
    validForDays: row.validForDays,
    reconsentRequired: row.reconsentRequired,
    photoScopes: row.photoScopes,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
  };
}

function event(action: string, id: string | null): AuditEventInput {
  return { action, outcome: 'success', resourceType: 'consent_template', resourceId: id };
}

export function createTemplatesService(deps: TemplatesServiceDeps) {
  const { db, audit } = deps;

  return {
    /**
     * Publishes the next version of a key. Publishes of one key are serialised by an advisory
     * lock held to commit; the unique (key, version) is the backstop, retried a few times.
     */
    async publish(ctx: RequestContext, input: PublishTemplateInput) {
      const actor = actorOf(ctx);
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          return await db.transaction(async (tx) => {
            await repo.lockKey(tx, input.key);
            const version = (await repo.latestVersion(tx, input.key)) + 1;
            const id = uuidv7();
            const row = await repo.insert(tx, {
              id,
              key: input.key,
              version,
              title: input.title,
              body: input.body,
              bodyHash: sha256Hex(Buffer.from(input.body, 'utf8')),
              treatmentTypes: [...new Set(input.treatmentTypes)],
              language: input.language,
              minimumAge: input.minimumAge ?? null,
              coolingOffHours: input.coolingOffHours ?? null,
              requiresAuthorisation: input.requiresAuthorisation ?? false,
              inkRecordRequired: input.inkRecordRequired ?? false,
              retentionYears: input.retentionYears ?? null,
              validForDays: input.validForDays ?? null,
              reconsentRequired: input.reconsentRequired ?? false,
              photoScopes: PHOTO_SCOPES.filter((scope) => input.photoScopes?.includes(scope)),
              createdBy: actor.userId,
              ...(deps.clock && { createdAt: deps.clock() }),
            });
            await audit.write(tx, ctx, [event('template.publish', id)]);
            // No client: only the template's id is kept; a replay re-reads it (audited).
            await ctx.idempotency?.remember(tx, { resourceId: id });
            return presentTemplate(row);
          });
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
        }
      }
      throw new ServiceUnavailable('The template could not be published; try again.', 1);
    },

    async get(ctx: RequestContext, id: string): Promise<Template> {
      const row = await repo.find(db, id);
      if (!row) throw new NotFound('Consent template not found.');
      await audit.record(ctx, [event('template.read', id)]);
      return presentTemplate(row);
    },

    async listLatest(ctx: RequestContext, query: { limit: number; after?: string | undefined }) {
      const rows = await repo.pageLatest(db, query.after, query.limit + 1);
      const page = rows.slice(0, query.limit);
      await audit.record(ctx, [event('template.list', null)]);
      return {
        items: page.map(presentTemplate),
        last: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      };
    },
  };
}

export type TemplatesService = ReturnType<typeof createTemplatesService>;
