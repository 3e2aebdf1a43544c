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
    createdAt: z.iso.datetime(),
    createdBy: z.uuid(),
  })
  .meta({ id: 'ConsentTemplate' });

export type Template = z.output<typeof templateSchema>;

export const templateIdParams = z.strictObject({ id: z.uuid() });
export const listTemplatesQuery = pageQuerySchema;
export const templatePageSchema = pageOf(templateSchema).meta({ id: 'ConsentTemplatePage' });
