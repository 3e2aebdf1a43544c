/** The four roles of API.md ("Roles"); what each may do is the permission table (permissions.ts). */
export const ROLES = ['reception', 'practitioner', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
