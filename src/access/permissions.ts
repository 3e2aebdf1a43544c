import type { Role } from './roles.js';

/**
 * The permission table of API.md ("Roles"), as data: one entry per action, naming the roles
 * allowed to take it. Every route under /v1 declares exactly one of these (or `public`), one
 * hook enforces it, and the matrix test walks every route against every role from this table.
 */
export const PERMISSIONS = {
  /** Any signed-in user, about themselves: me, logout, second-factor enrolment. */
  self: ['reception', 'practitioner', 'auditor', 'admin'],
  'clients.read': ['reception', 'practitioner'],
  'clients.write': ['reception', 'practitioner'],
  'templates.read': ['reception', 'practitioner', 'admin'],
  'templates.publish': ['admin'],
  'consents.read': ['reception', 'practitioner'],
  'consents.write': ['reception', 'practitioner'],
  'journal.read': ['practitioner'],
  'journal.write': ['practitioner'],
  /** A practitioner's own unsigned drafts (API.md "Journal"). */
  'journal.drafts': ['practitioner'],
  /** The client's own words beside an entry (GDPR Art. 16 by addition). */
  'journal.statements': ['reception', 'practitioner'],
  /** Which kinds each role may touch is the attachments service's (API.md "Attachments"). */
  'attachments.read': ['reception', 'practitioner'],
  'attachments.write': ['reception', 'practitioner'],
  'recalls.read': ['practitioner', 'admin'],
  /** Data-subject requests: export, legal hold, erasure. */
  'subjects.manage': ['admin'],
  /** Restriction of processing (GDPR Art. 18). */
  'clients.restrict': ['admin'],
  'accessLog.read': ['auditor', 'admin'],
  'audit.read': ['auditor'],
  'users.manage': ['admin'],
  'clinics.manage': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function allows(permission: Permission, role: Role): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}
