import { z } from 'zod';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';
import { singleLine } from '../../schemas/text.js';

export const recallQuery = pageQuerySchema.extend({
  // A batch number is not a personal value, so it may travel in the query string (API.md).
  batchNumber: singleLine(z.string().trim().min(1).max(100)),
});

const recalledClientSchema = z.object({
  clientId: z.uuid(),
  firstName: z.string(),
  lastName: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  entries: z
    .array(z.object({ entryId: z.uuid(), performedAt: z.iso.datetime() }))
    .describe('Oldest first'),
});

/** One page of recalled clients, in client id order; each carries all its matching entries. */
export const recallSchema = pageOf(recalledClientSchema).meta({ id: 'Recall' });

export type Recall = z.output<typeof recallSchema>;
