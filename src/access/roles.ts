/** The four roles of API.md ("Roles"); what each may do is the permission table (permissions.ts). */
export const ROLES = ['reception', 'practitioner', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The clinics are brands of one data controller, so these roles act across every clinic: an
 * admin handles data-subject requests for any client, an auditor reads any client's access
 * log. Their `clinicIds` grant nothing (and may be empty).
 */
export const ORGANISATION_WIDE_ROLES = ['auditor', 'admin'] as const satisfies readonly Role[];

/** Reception and practitioners see only the clients of their own clinics (at least one). */
export function isOrganisationWide(role: Role): boolean {
  return (ORGANISATION_WIDE_ROLES as readonly Role[]).includes(role);
}
