import { z } from 'zod';

/** `?limit=` (default 50, max 500) and `?cursor=` as API.md fixes them for every list. */
export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

/** Lists ordered by a UUIDv7 id use the last id as the cursor (opaque to clients). */
export function encodeIdCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeIdCursor(cursor: string | undefined): string | undefined | null {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return z.uuid().safeParse(id).success ? id : null;
}
