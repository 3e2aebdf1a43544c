import { z } from 'zod';
import { attachmentSchema } from '../attachments/attachments.schemas.js';
import { auditEventSchema } from '../audit/audit.schemas.js';
import { clientSchema } from '../clients/clients.schemas.js';
import { consentDetailSchema } from '../consents/consents.schemas.js';
import { entrySchema } from '../journal/journal.schemas.js';

/** Everything held about one client, decrypted (GDPR art. 15 access / art. 20 portability). */
export const subjectExportSchema = z
  .object({
    exportedAt: z.iso.datetime(),
    client: clientSchema,
    legalHold: z.object({
      active: z.boolean(),
      reason: z.string().nullable(),
      since: z.iso.datetime().nullable(),
    }),
    marketingHistory: z.array(
      z.object({ optIn: z.boolean(), actorId: z.uuid().nullable(), at: z.iso.datetime() }),
    ),
    consents: z.array(consentDetailSchema),
    journal: z.array(entrySchema),
    attachments: z
      .array(attachmentSchema)
      .describe(
        'Every attachment (photos, documents, consent scans), oldest first, as the attachment read returns it; `?format=zip` holds their content too',
      ),
    accessLog: z
      .array(
        auditEventSchema.extend({
          actorDisplayName: z
            .string()
            .nullable()
            .describe('The display name of the acting user (null for the system)'),
        }),
      )
      .describe('Who read or changed the client, newest first, with the actor’s name and role'),
  })
  .meta({ id: 'SubjectExport' });

export type SubjectExport = z.output<typeof subjectExportSchema>;

export const subjectExportQuery = z.strictObject({
  format: z
    .enum(['json', 'zip'])
    .default('json')
    .describe(
      "`json` (the default): the document; `zip`: `export.json` (the same document) and each attachment's content under `attachments/<id>.<ext>`, streamed",
    ),
});

export const subjectExportZipSchema = z
  .string()
  .meta({ format: 'binary' })
  .describe(
    'A ZIP archive: `export.json`, then `attachments/<id>.<ext>` for each attachment, decrypted chunk by chunk as it is sent',
  );
