import { z } from 'zod';
import { freeText, singleLine } from '../../schemas/text.js';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';

/** A treatment type as templates and journal entries name it: trimmed, lower-case. */
export const treatmentTypeSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[a-z0-9][a-z0-9 ._-]*$/, 'must be letters, digits, spaces, dots, dashes or underscores');

/** The photo uses a client may grant when signing (API.md "Consent templates"). */
export const PHOTO_SCOPES = ['clinical', 'marketing'] as const;
export const photoScopeSchema = z.enum(PHOTO_SCOPES);
export const photoScopesSchema = z
  .array(photoScopeSchema)
  .max(PHOTO_SCOPES.length)
  .refine((scopes) => new Set(scopes).size === scopes.length, 'must not repeat a scope')
  .meta({ uniqueItems: true });

/** A template's version: 1 for a new key, previous + 1 after (a PostgreSQL `integer`). */
export const templateVersionSchema = z.int().min(1).max(2_147_483_647);

export const publishTemplateSchema = z
  .strictObject({
    key: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lower-case letters, digits, dots, dashes'),
    title: singleLine(z.string().trim().min(1).max(200)),
    body: freeText(z.string().min(1).max(100_000)),
    treatmentTypes: z.array(treatmentTypeSchema).min(1).max(50),
    language: z
      .string()
      .trim()
      .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag, e.g. da or en-GB'),
    minimumAge: z.number().int().min(0).max(130).optional(),
    coolingOffHours: z.number().int().min(0).max(8760).optional(),
    requiresAuthorisation: z
      .boolean()
      .optional()
      .describe('Performed by, or delegated under, a user with an authorisationId'),
    inkRecordRequired: z
      .boolean()
      .optional()
      .describe('Every entry lists each ink used, with batchNumber and supplier'),
    retentionYears: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .describe('How long entries under this version are kept; absent: RETENTION_YEARS'),
    validForDays: z
      .number()
      .int()
      .min(1)
      .max(36_500)
      .optional()
      .describe('A consent allows treatments performed before signedAt + validForDays'),
    reconsentRequired: z
      .boolean()
      .optional()
      .describe('Consents signed on earlier versions of this key no longer allow treatments'),
    photoScopes: photoScopesSchema.optional(),
  })
  .meta({
    id: 'ConsentTemplatePublish',
    requestExample: {
      key: 'botox',
      title: 'Botulinum toxin',
      body: 'Jeg giver samtykke til behandling med botulinumtoksin.',
      language: 'da',
      treatmentTypes: ['botox'],
      minimumAge: 18,
      coolingOffHours: 48,
    },
  });

export type PublishTemplateInput = z.output<typeof publishTemplateSchema>;

export const templateSchema = z
  .object({
    id: z.uuid(),
    key: z.string(),
    version: templateVersionSchema,
    title: z.string(),
    body: z.string(),
    bodyHash: z.string().describe('SHA-256 (hex) of the UTF-8 body'),
    treatmentTypes: z.array(z.string()),
    language: z.string(),
    minimumAge: z.int().min(0).max(130).nullable(),
    coolingOffHours: z.int().min(0).max(8760).nullable(),
    requiresAuthorisation: z.boolean(),
    inkRecordRequired: z.boolean(),
    retentionYears: z.int().min(1).max(100).nullable(),
    validForDays: z.int().min(1).max(36_500).nullable(),
    reconsentRequired: z.boolean(),
    photoScopes: z.array(photoScopeSchema),
    createdAt: z.iso.datetime(),
    createdBy: z.uuid(),
  })
  .meta({ id: 'ConsentTemplate' });

export type Template = z.output<typeof templateSchema>;

export const templateIdParams = z.strictObject({ id: z.uuid() });
export const listTemplatesQuery = pageQuerySchema;
export const templatePageSchema = pageOf(templateSchema).meta({ id: 'ConsentTemplatePage' });
