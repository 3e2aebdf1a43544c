import { z } from 'zod';
import { ROLES } from '../access/roles.js';
import type { users } from '../db/schema/users.js';

/**
 * A user as every route shows one (the users module's routes and `GET /v1/auth/me`): an
 * allow-list, so a password hash or a TOTP secret cannot reach the serializer.
 */
export const roleSchema = z.enum(ROLES);

export const userSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    displayName: z.string(),
    role: roleSchema,
    clinicIds: z.array(z.uuid()),
    disabled: z.boolean(),
    mfaEnabled: z.boolean(),
    authorisationId: z
      .string()
      .nullable()
      .describe('Danish autorisations-ID (5 letters or digits), null when the user has none'),
    profession: z.string().nullable().describe('e.g. læge, sygeplejerske, kosmetolog'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'User' });
export type PublicUser = z.infer<typeof userSchema>;

export type UserRow = typeof users.$inferSelect;
export interface UserWithClinics extends UserRow {
  clinicIds: string[];
}

export function toPublicUser(user: UserWithClinics): PublicUser {
  return {
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    role: user.role,
    clinicIds: user.clinicIds,
    disabled: user.disabled,
    mfaEnabled: user.totpConfirmedAt !== null,
    authorisationId: user.authorisationId,
    profession: user.profession,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}
