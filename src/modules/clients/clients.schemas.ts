import { z } from 'zod';
import { freeText, hasControl, singleLine } from '../../schemas/text.js';
import { normaliseEmail, normaliseNationalId, normalisePhone } from '../../crypto/index.js';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';

const name = (label: string) =>
  z
    .string()
    .trim()
    .min(1, `${label} must not be empty`)
    .max(100, `${label} must be at most 100 characters`)
    .refine((value) => !hasControl(value), `${label} must not contain control characters`);

function isRealDate(value: string): boolean {
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

export const dateOfBirthSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine(isRealDate, 'must be a real calendar date')
  .refine((value) => value >= '1900-01-01', 'must be 1900-01-01 or later')
  .refine((value) => value <= new Date().toISOString().slice(0, 10), 'must not be in the future')
  .meta({ format: 'date', description: 'A real calendar date, 1900-01-01 to today' });

export const emailSchema = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be an e-mail address'))
  .refine((value) => normaliseEmail(value) !== null, 'must be an e-mail address')
  .meta({ format: 'email' });

/** Stored and returned in E.164 form (`+4512345678`); a number without prefix is Danish. */
export const phoneSchema = z
  .string()
  .max(40, 'must be at most 40 characters')
  .transform((value, context) => {
    const phone = normalisePhone(value);
    if (phone === null) {
      context.addIssue({
        code: 'custom',
        message: 'must be a phone number (8 digits for Denmark, or +<country code><number>)',
      });
      return z.NEVER;
    }
    return phone;
  })
  .describe('8 digits for Denmark, or + and a country code; stored as +<digits> (E.164)');

/** A Danish CPR number, stored as 10 digits. */
export const nationalIdSchema = z
  .string()
  .max(20, 'must be a CPR number (DDMMYY-XXXX)')
  .transform((value, context) => {
    const cpr = normaliseNationalId(value);
    if (cpr === null) {
      context.addIssue({
        code: 'custom',
        message: 'must be a CPR number (DDMMYY-XXXX) with a real date',
      });
      return z.NEVER;
    }
    return cpr;
  })
  .describe('A Danish CPR number, DDMMYY-XXXX (the dash optional), whose date is dateOfBirth');

export const addressSchema = z
  .strictObject({
    street: singleLine(z.string().trim().min(1).max(200)),
    postalCode: z
      .string()
      .trim()
      .min(1)
      .max(20)
      .regex(/^[A-Za-z0-9 -]+$/, 'must be a postal code'),
    city: singleLine(z.string().trim().min(1).max(100)),
    country: z
      .string()
      .trim()
      .toUpperCase()
      .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code, e.g. DK'),
  })
  .refine((address) => address.country !== 'DK' || /^\d{4}$/.test(address.postalCode), {
    message: 'a Danish postal code has 4 digits',
    path: ['postalCode'],
  })
  .meta({ id: 'Address' });

export type Address = z.output<typeof addressSchema>;

const personalFields = {
  firstName: name('firstName'),
  lastName: name('lastName'),
  dateOfBirth: dateOfBirthSchema,
  nationalId: nationalIdSchema.nullish(),
  email: emailSchema.nullish(),
  phone: phoneSchema.nullish(),
  address: addressSchema.nullish(),
  marketingOptIn: z.boolean().optional(),
};

export const createClientSchema = z.strictObject({ clinicId: z.uuid(), ...personalFields }).meta({
  id: 'ClientCreate',
  requestExample: {
    clinicId: '01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f',
    firstName: 'Karen',
    lastName: 'Jensen',
    dateOfBirth: '1985-03-14',
    nationalId: '140385-1234',
    email: 'karen@example.dk',
    phone: '71 74 11 08',
    marketingOptIn: true,
    address: {
      street: 'Juelsmindevej 57',
      postalCode: '7120',
      city: 'Vejle',
      country: 'DK',
    },
  },
});

export const updateClientSchema = z
  .strictObject({
    firstName: personalFields.firstName.optional(),
    lastName: personalFields.lastName.optional(),
    dateOfBirth: personalFields.dateOfBirth.optional(),
    nationalId: personalFields.nationalId,
    email: personalFields.email,
    phone: personalFields.phone,
    address: personalFields.address,
    marketingOptIn: personalFields.marketingOptIn,
  })
  .refine((patch) => Object.keys(patch).length > 0, 'name at least one field to change')
  .meta({ id: 'ClientUpdate', requestExample: { marketingOptIn: false, email: null } });

export type CreateClientInput = z.output<typeof createClientSchema>;
export type UpdateClientInput = z.output<typeof updateClientSchema>;

export const searchClientsSchema = z
  .strictObject({
    email: singleLine(z.string().max(254)).optional(),
    phone: singleLine(z.string().max(40)).optional(),
    nationalId: singleLine(z.string().max(20)).optional(),
  })
  .refine(
    (query) =>
      query.email !== undefined || query.phone !== undefined || query.nationalId !== undefined,
    'give email, phone or nationalId',
  )
  .meta({ id: 'ClientSearch', requestExample: { phone: '+45 71 74 11 08' } });

export type SearchClientsInput = z.output<typeof searchClientsSchema>;

export const clientSchema = z
  .object({
    id: z.uuid(),
    clinicId: z.uuid(),
    firstName: z.string(),
    lastName: z.string(),
    dateOfBirth: z.iso.date(),
    nationalId: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    address: z
      .object({ street: z.string(), postalCode: z.string(), city: z.string(), country: z.string() })
      .nullable(),
    marketingOptIn: z.boolean().describe('Always false while processing is restricted'),
    restricted: z
      .boolean()
      .describe('Processing restricted (GDPR Art. 18): left out of lists, searches and recalls'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Client' });

export type Client = z.output<typeof clientSchema>;

export const clientIdParams = z.strictObject({ id: z.uuid() });

export const listClientsQuery = pageQuerySchema.extend({ clinicId: z.uuid().optional() });

export const clientPageSchema = pageOf(clientSchema).meta({ id: 'ClientPage' });
export const clientSearchResultSchema = z
  .object({ items: z.array(clientSchema) })
  .meta({ id: 'ClientSearchResult' });

export const legalHoldSchema = z
  .strictObject({
    active: z.boolean(),
    reason: freeText(z.string().trim().min(3).max(1000)),
  })
  .meta({
    id: 'LegalHoldChange',
    requestExample: { active: true, reason: 'Complaint to the Patient Safety Authority pending' },
  });

export const legalHoldStateSchema = z
  .object({
    clientId: z.uuid(),
    active: z.boolean(),
    reason: z.string().nullable(),
    since: z.iso.datetime().nullable(),
  })
  .meta({ id: 'LegalHold' });

export const restrictionSchema = z
  .strictObject({
    active: z.boolean(),
    reason: z.string().trim().min(3).max(1000),
  })
  .meta({
    id: 'RestrictionChange',
    requestExample: { active: true, reason: 'The client disputes the accuracy of an entry' },
  });

export const restrictionStateSchema = z
  .object({
    clientId: z.uuid(),
    restricted: z.boolean(),
    changedAt: z.iso.datetime(),
  })
  .meta({ id: 'Restriction' });

export const erasureSchema = z
  .strictObject({ reason: freeText(z.string().trim().min(3).max(1000)) })
  .meta({ id: 'ErasureRequest', requestExample: { reason: 'Erasure requested by the client' } });
