import type { FastifyRequest } from 'fastify';
import { uuidv7 } from '../../db/ids.js';
import type { Database } from '../../db/pool.js';
import { isUniqueViolation } from '../../db/unique.js';
import { BadRequest, Conflict } from '../../errors.js';
import { decodeIdCursor, encodeIdCursor } from '../../schemas/page.js';
import type { AuditRecorder } from '../audit/audit.types.js';
import { insertClinic, listClinics, type ClinicRow } from './clinics.repository.js';

function toPublicClinic(clinic: ClinicRow) {
  return { id: clinic.id, name: clinic.name, createdAt: clinic.createdAt.toISOString() };
}

export function createClinicsService({
  db,
  now,
  audit,
}: {
  db: Database;
  now: () => Date;
  audit: AuditRecorder;
}) {
  return {
    async create(input: { name: string }, request: FastifyRequest | null) {
      try {
        return toPublicClinic(
          await db.transaction(async (tx) => {
            const clinic = await insertClinic(tx, { id: uuidv7(), name: input.name, now: now() });
            await audit.recordInTransaction(tx, request, [
              {
                action: 'clinic.create',
                outcome: 'success',
                resourceType: 'clinic',
                resourceId: clinic.id,
              },
            ]);
            return clinic;
          }),
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new Conflict('A clinic with that name already exists.');
        throw error;
      }
    },

    async list(page: { limit: number; cursor?: string | undefined }) {
      const after = decodeIdCursor(page.cursor);
      if (after === null) {
        throw new BadRequest('The request is not valid.', [
          { path: 'querystring.cursor', message: 'is not a cursor of this list' },
        ]);
      }
      const rows = await listClinics(db, { limit: page.limit + 1, after });
      const items = rows.slice(0, page.limit);
      return {
        items: items.map(toPublicClinic),
        nextCursor: rows.length > page.limit ? encodeIdCursor(items.at(-1)!.id) : null,
      };
    },
  };
}
