import { z } from 'zod';
import { ATTACHMENT_KINDS, ATTACHMENT_TYPES } from '../../db/schema/attachments.js';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';

// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_TAB_CR_LF = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const DATE_TIME_YEARS = /^(19\d\d|[2-9]\d\d\d)-/;

/** The multipart part `metadata` (JSON), API.md "Attachments". */
export const attachmentMetadataSchema = z
  .strictObject({
    kind: z.enum(ATTACHMENT_KINDS),
    entryId: z.uuid().optional(),
    consentId: z.uuid().optional(),
    takenAt: z.iso
      .datetime()
      .refine((value) => DATE_TIME_YEARS.test(value), 'must be in the years 1900-9999')
      .optional(),
    caption: z
      .string()
      .max(2000)
      .refine(
        (value) => !CONTROL_EXCEPT_TAB_CR_LF.test(value),
        'must not contain control characters',
      )
      .optional(),
  })
  .refine((value) => value.kind !== 'consent-scan' || value.consentId !== undefined, {
    path: ['consentId'],
    message: 'a consent scan needs the consent it is of',
  })
  .meta({ id: 'AttachmentMetadataInput' });
export type AttachmentMetadataInput = z.infer<typeof attachmentMetadataSchema>;

/** What the upload's multipart body holds, for the OpenAPI document. */
export const uploadBodySchema = z
  .object({
    metadata: z
      .string()
      .describe(
        'JSON: `{ kind: "photo"|"document"|"consent-scan", entryId?, consentId?, takenAt?, caption? }` (AttachmentMetadataInput); must come before `file`',
      ),
    file: z
      .string()
      .meta({ format: 'binary' })
      .describe('The content: JPEG, PNG, HEIC or PDF, taken from its bytes'),
  })
  .meta({ id: 'AttachmentUpload' });

export const attachmentSchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid(),
    kind: z.enum(ATTACHMENT_KINDS),
    contentType: z.enum(ATTACHMENT_TYPES),
    size: z.int().min(0).describe('Bytes of the stored content (what a download returns)'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe('SHA-256 (hex) of the stored content'),
    width: z.int().min(1).max(16_384).nullable().describe('Pixels (images); null for a PDF'),
    height: z.int().min(1).max(16_384).nullable().describe('Pixels (images); null for a PDF'),
    entryId: z.uuid().nullable(),
    consentId: z.uuid().nullable(),
    takenAt: z.iso.datetime().nullable(),
    caption: z.string().nullable(),
    createdBy: z.uuid(),
    createdAt: z.iso.datetime(),
    marketingAllowed: z
      .boolean()
      .describe("Whether one of the client's active consents grants the `marketing` photo scope"),
  })
  .meta({ id: 'Attachment' });
export type Attachment = z.infer<typeof attachmentSchema>;

export const attachmentPageSchema = pageOf(attachmentSchema).meta({ id: 'AttachmentPage' });

export const clientAttachmentParams = z.strictObject({ id: z.uuid() });
export const attachmentParams = z.strictObject({ id: z.uuid(), attachmentId: z.uuid() });

export const attachmentListQuery = pageQuerySchema.extend({
  entryId: z.uuid().optional(),
  consentId: z.uuid().optional(),
});
export type AttachmentListQuery = z.infer<typeof attachmentListQuery>;

export const attachmentContentSchema = z
  .string()
  .meta({ format: 'binary' })
  .describe('The stored bytes, decrypted chunk by chunk as they are sent');
