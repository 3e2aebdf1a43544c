import { z } from 'zod';
import { singleLine } from '../../schemas/text.js';

export const recallQuery = z.strictObject({
  // A batch number is not a personal value, so it may travel in the query string (API.md).
  batchNumber: singleLine(z.string().trim().min(1).max(100)),
});

export const recallSchema = z
  .object({
    items: z.array(
      z.object({
        clientId: z.uuid(),
        firstName: z.string(),
        lastName: z.string(),
        email: z.string().nullable(),
        phone: z.string().nullable(),
        entries: z
          .array(z.object({ entryId: z.uuid(), performedAt: z.iso.datetime() }))
          .describe('Oldest first'),
      }),
    ),
  })
  .meta({ id: 'Recall' });

export type Recall = z.output<typeof recallSchema>;
