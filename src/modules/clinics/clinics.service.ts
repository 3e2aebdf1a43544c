import type { RequestContext } from '../../access/context.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database } from '../../db/pool.js';
import { isUniqueViolation } from '../../db/errors.js';
import { Conflict, NotFound } from '../../errors.js';
import { idCursor } from '../../schemas/cursor.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { findClinic, insertClinic, listClinics, type ClinicRow } from './clinics.repository.js';

function toPublicClinic(clinic: ClinicRow) {
  return { id: clinic.id, name: clinic.name, createdAt: clinic.createdAt.toISOString() };
}

export function createClinicsService({
  db,
  clock,
  audit,
}: {
  db: Database;
  clock: () => Date;
  audit: AuditDoor;
}) {
  return {
    async create(ctx: RequestContext, input: { name: string }) {
      try {
        return toPublicClinic(
          await db.transaction(async (tx) => {
            const clinic = await insertClinic(tx, { id: uuidv7(), name: input.name, now: clock() });
            await audit.write(tx, ctx, [
              {
                action: 'clinic.create',
                outcome: 'success',
                resourceType: 'clinic',
                resourceId: clinic.id,
              },
            ]);
            // No client: only the clinic's id is kept; a replay re-reads it (get, audited).
            await ctx.idempotency?.remember(tx, { resourceId: clinic.id });
            return clinic;
          }),
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new Conflict('A clinic with that name already exists.');
        throw error;
      }
    },

    /** One clinic (for a replayed create: there is no clinic route by id). */
    async get(ctx: RequestContext, id: string) {
      const clinic = await findClinic(db, id);
      if (!clinic) throw new NotFound('No such clinic.');
      await audit.record(ctx, [
        { action: 'clinic.read', outcome: 'success', resourceType: 'clinic', resourceId: id },
      ]);
      return toPublicClinic(clinic);
    },

    async list(ctx: RequestContext, page: { limit: number; cursor?: string | undefined }) {
      const after = idCursor.decode(page.cursor);
      const rows = await listClinics(db, { limit: page.limit + 1, after });
      const items = rows.slice(0, page.limit);
      // One event for the page (clinics are not personal data; the read is still traceable).
      await audit.record(ctx, [
        {
          action: 'clinic.list',
          outcome: 'success',
          resourceType: 'clinic',
          reason: items.length === 0 ? 'none_found' : null,
        },
      ]);
      return {
        items: items.map(toPublicClinic),
        nextCursor: rows.length > page.limit ? idCursor.encode(items.at(-1)!.id) : null,
      };
    },
  };
}
