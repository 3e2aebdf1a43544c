import { and, eq, isNull, sql } from 'drizzle-orm';
import type { WrappedDataKey } from '../../crypto/index.js';
import type { Sealed } from '../../crypto/sealed.js';
import type { Database } from '../../db/pool.js';
import { placeholders } from '../../db/prepared.js';
import { clientDataKeys } from '../../db/schema/client-data-keys.js';
import { clients } from '../../db/schema/clients.js';
import { consentTemplates } from '../../db/schema/consent-templates.js';
import { consents } from '../../db/schema/consents.js';
import type { CoveringConsent } from './journal.rules.js';

/** What a journal write reads first, in one round trip. */
export interface JournalWriteContext {
  /** Undefined when the client does not exist or has been erased. */
  client:
    { id: string; clinicId: string; dateOfBirth: Sealed<string>; restricted: boolean } | undefined;
  key: WrappedDataKey | null;
  /** Oldest signature first; empty unless the client is in the caller's clinics. */
  covering: CoveringConsent[];
  /** The users asked about (performer, responsible person), as the rules see them. */
  staff: StaffMember[];
}

/** A user named on an entry, as the journal rules see them against the client's clinic. */
export interface StaffMember {
  id: string;
  /** An enabled practitioner of the client's clinic. */
  practitionerOfClinic: boolean;
  authorised: boolean;
}

/** A covering consent as the read's JSON aggregate carries it (times as text). */
interface CoveringJson {
  id: string;
  status: 'active' | 'withdrawn';
  signedAt: string;
  informedAt: string | null;
  expiresAt: string | null;
  outdated: boolean;
  coolingOffHours: number | null;
  minimumAge: number | null;
  requiresAuthorisation: boolean;
  inkRecordRequired: boolean;
}

const r = placeholders<{
  clientId: string;
  treatmentType: string;
  clinicIds: readonly string[];
  performedAt: string;
  staffIds: readonly string[];
}>();

/** The write's read (prepared): scope, wrapped key, and the consents covering the treatment. */
export function createWriteContextReader(db: Database) {
  const c = consents;
  const t = consentTemplates;
  const statement = db
    .select({
      clinicId: clients.clinicId,
      dateOfBirth: clients.dateOfBirth,
      restricted: clients.restricted,
      kekId: clientDataKeys.kekId,
      wrapped: clientDataKeys.wrapped,
      covering: sql<
        CoveringJson[] | null
      >`CASE WHEN ${clients.clinicId} = ANY(${r.clinicIds}::uuid[]) THEN (
        SELECT json_agg(json_build_object(
            'id', ${c.id}, 'status', ${c.status}, 'signedAt', ${c.signedAt},
            'informedAt', ${c.informedAt}, 'expiresAt', ${c.expiresAt},
            'outdated', EXISTS (SELECT 1 FROM consent_templates newer
              WHERE newer.key = ${t.key} AND newer.version > ${t.version} AND newer.reconsent_required
                AND newer.created_at <= ${r.performedAt}::timestamptz),
            'coolingOffHours', ${t.coolingOffHours}, 'minimumAge', ${t.minimumAge},
            'requiresAuthorisation', ${t.requiresAuthorisation},
            'inkRecordRequired', ${t.inkRecordRequired}
          ) ORDER BY ${c.signedAt}, ${c.id})
        FROM ${c} JOIN ${t} ON ${t.id} = ${c.templateId}
        WHERE ${c.clientId} = ${clients.id} AND ${r.treatmentType}::text = ANY(${t.treatmentTypes})
      ) END`,
      staff: sql<StaffMember[] | null>`(
        SELECT json_agg(json_build_object(
            'id', u.id,
            'practitionerOfClinic', u.role = 'practitioner' AND NOT u.disabled AND EXISTS (
              SELECT 1 FROM user_clinics uc WHERE uc.user_id = u.id AND uc.clinic_id = ${clients.clinicId}),
            'authorised', u.authorisation_id IS NOT NULL))
        FROM users u WHERE u.id = ANY(${r.staffIds}::uuid[])
      )`,
    })
    .from(clients)
    .leftJoin(clientDataKeys, eq(clientDataKeys.clientId, clients.id))
    .where(and(eq(clients.id, r.clientId), isNull(clients.erasedAt)))
    .prepare('journal_write_context_v3');

  return async function readForWrite(query: {
    clientId: string;
    treatmentType: string;
    clinicIds: readonly string[];
    performedAt: Date;
    staffIds: readonly string[];
  }): Promise<JournalWriteContext> {
    const [row] = await statement.execute({
      ...query,
      performedAt: query.performedAt.toISOString(),
    });
    if (!row) return { client: undefined, key: null, covering: [], staff: [] };
    return {
      client: {
        id: query.clientId,
        clinicId: row.clinicId,
        dateOfBirth: row.dateOfBirth,
        restricted: row.restricted,
      },
      key:
        row.kekId !== null && row.wrapped !== null
          ? { kekId: row.kekId, wrapped: row.wrapped }
          : null,
      covering: (row.covering ?? []).map((consent) => ({
        consent: {
          id: consent.id,
          status: consent.status,
          signedAt: new Date(consent.signedAt),
          informedAt: consent.informedAt === null ? null : new Date(consent.informedAt),
          expiresAt: consent.expiresAt === null ? null : new Date(consent.expiresAt),
          outdated: consent.outdated,
        },
        template: {
          coolingOffHours: consent.coolingOffHours,
          minimumAge: consent.minimumAge,
          requiresAuthorisation: consent.requiresAuthorisation,
          inkRecordRequired: consent.inkRecordRequired,
        },
      })),
      staff: row.staff ?? [],
    };
  };
}
