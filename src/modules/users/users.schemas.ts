import { z } from 'zod';
import { isOrganisationWide } from '../../access/roles.js';
import { singleLine } from '../../schemas/text.js';
import { roleSchema } from '../../schemas/user.js';
import { PASSWORD_MAX, PASSWORD_MIN, passwordLengthOk } from '../auth/password.js';

export const USERNAME_PATTERN = /^[A-Za-z0-9._@-]{3,64}$/;

export const usernameSchema = z
  .string()
  .regex(USERNAME_PATTERN, 'must be 3 to 64 of letters, digits and . _ @ -');

/**
 * Taken exactly as typed: no trimming, no normalisation. The length counts code points, as
 * JSON Schema's minLength and maxLength do.
 */
export const newPasswordSchema = singleLine()
  .refine(passwordLengthOk, `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`)
  .meta({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX });

/** Reception and practitioners see only their own clinics' clients, so they need one. */
export const CLINIC_REQUIRED = 'reception and practitioners belong to at least one clinic';

const displayNameSchema = singleLine(z.string().trim().min(1).max(200));
/** The Danish autorisations-ID: 5 letters or digits, kept upper-case. */
export const authorisationIdSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9]{5}$/, 'must be 5 letters or digits (autorisations-ID)')
  .transform((value) => value.toUpperCase());
const professionSchema = singleLine(z.string().trim().min(1).max(100));

// Empty only for the organisation-wide roles (admin, auditor), whose clinics grant nothing.
const clinicIdsSchema = z
  .array(z.uuid())
  .max(100)
  .refine((ids) => new Set(ids).size === ids.length, 'must not repeat a clinic')
  .meta({ uniqueItems: true });

export const createUserBodySchema = z
  .strictObject({
    username: usernameSchema,
    password: newPasswordSchema,
    role: roleSchema,
    displayName: displayNameSchema,
    clinicIds: clinicIdsSchema,
    authorisationId: authorisationIdSchema.nullable().optional(),
    profession: professionSchema.nullable().optional(),
  })
  .refine((body) => isOrganisationWide(body.role) || body.clinicIds.length > 0, {
    path: ['clinicIds'],
    message: CLINIC_REQUIRED,
  })
  .meta({
    id: 'UserCreate',
    requestExample: {
      username: 'dr.hansen',
      password: 'another long password',
      role: 'practitioner',
      displayName: 'Dr. Hansen',
      clinicIds: ['01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f'],
      authorisationId: '0013Q',
      profession: 'læge',
    },
  });
export type CreateUserInput = z.infer<typeof createUserBodySchema>;

export const updateUserBodySchema = z
  .strictObject({
    role: roleSchema.optional(),
    displayName: displayNameSchema.optional(),
    clinicIds: clinicIdsSchema.optional(),
    disabled: z.boolean().optional(),
    authorisationId: authorisationIdSchema.nullable().optional(),
    profession: professionSchema.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'name at least one field to change')
  .meta({ id: 'UserUpdate', requestExample: { displayName: 'Dr. Karen Hansen' } });
export type UpdateUserInput = z.infer<typeof updateUserBodySchema>;

export const userIdParamsSchema = z.strictObject({ id: z.uuid() });

export { roleSchema, userSchema, type PublicUser } from '../../schemas/user.js';
