import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { IdempotencyRowValues, RequestContext } from '../../access/context.js';
import type { BlindIndex, WrappedDataKey } from '../../crypto/index.js';
import type { Sealed } from '../../crypto/sealed.js';
import type { Database } from '../../db/pool.js';
import { placeholders } from '../../db/prepared.js';
import { clientDataKeys } from '../../db/schema/client-data-keys.js';
import { clients } from '../../db/schema/clients.js';
import { consentTemplates } from '../../db/schema/consent-templates.js';
import { consents } from '../../db/schema/consents.js';
import { idempotencyKeys } from '../../db/schema/idempotency-keys.js';
import { journalDrafts, journalEntries, journalProducts } from '../../db/schema/journal.js';
import { auditedStatement, type AuditPart } from '../audit/audit.statement.js';
import type { AuditEventInput } from '../audit/audit.types.js';
import type { EntryRow } from './journal.repository.js';
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

/** The entry's columns in insert order, each as a typed placeholder of its own name. */
const ENTRY_COLUMNS = [
  'id',
  'clientId',
  'clinicId',
  'authorId',
  'consentId',
  'treatmentType',
  'performedAt',
  'notes',
  'treatedAreas',
  'products',
  'recordedLate',
  'createdAt',
  'performedBy',
  'responsibleId',
] as const satisfies readonly (keyof EntryRow)[];

type EntryParams = { [K in (typeof ENTRY_COLUMNS)[number]]: unknown } & {
  productIds: string[];
  batchIndexes: BlindIndex[];
  /** The draft the entry is signed from (deleted with the write), or null. */
  draftId: string | null;
};

/** The Idempotency-Key row of a keyed write (modules/idempotency), as statement values. */
const CLAIM_COLUMNS = [
  'id',
  'actorId',
  'keyHash',
  'requestHash',
  'clientId',
  'status',
  'responseEnc',
  'createdAt',
  'expiresAt',
] as const satisfies readonly (keyof IdempotencyRowValues)[];

type ClaimParams = { [K in (typeof CLAIM_COLUMNS)[number] as `claim_${K}`]: unknown };

const w = placeholders<EntryParams>();

const k = placeholders<ClaimParams>();

/** Both writes check the same thing at the statement's one snapshot. */
function stillWritable(): SQL {
  return sql`EXISTS (SELECT 1 FROM ${clients} WHERE ${clients.id} = ${w.clientId}::uuid AND ${clients.erasedAt} IS NULL FOR SHARE)
      AND EXISTS (SELECT 1 FROM ${consents} WHERE ${consents.id} = ${w.consentId}::uuid AND ${consents.status} = 'active' FOR SHARE)`;
}

/**
 * The key's row, inserted (or taking over an expired one) only when the entry can be
 * written; it returns nothing when a live row holds the key, and a concurrent insert of the
 * same key waits for the other statement's transaction. The entry is written only if it did.
 */
function claimInsert(): SQL {
  const columns = CLAIM_COLUMNS.map((key) => idempotencyKeys[key]);
  const excluded = (name: string) => sql.raw(`${name} = excluded.${name}`);
  return sql`INSERT INTO ${idempotencyKeys} (${sql.join(
    columns.map((column) => sql.identifier(column.name)),
    sql`, `,
  )})
    SELECT ${sql.join(
      CLAIM_COLUMNS.map(
        (key) => sql`${k[`claim_${key}`]}::${sql.raw(idempotencyKeys[key].getSQLType())}`,
      ),
      sql`, `,
    )}
    WHERE ${stillWritable()}
    ON CONFLICT (${sql.identifier(idempotencyKeys.actorId.name)}, ${sql.identifier(idempotencyKeys.keyHash.name)})
    DO UPDATE SET ${sql.join(
      columns
        .filter((column) => column !== idempotencyKeys.actorId)
        .map((column) => excluded(column.name)),
      sql`, `,
    )}
    WHERE ${idempotencyKeys.expiresAt} <= excluded.${sql.identifier(idempotencyKeys.createdAt.name)}
    RETURNING ${idempotencyKeys.id}`;
}

function entryInsert(keyed = false): SQL {
  const columns = ENTRY_COLUMNS.map((key) => journalEntries[key]);
  return sql`INSERT INTO ${journalEntries} (${sql.join(
    columns.map((column) => sql.identifier(column.name)),
    sql`, `,
  )})
    SELECT ${sql.join(
      ENTRY_COLUMNS.map((key) => sql`${w[key]}::${sql.raw(journalEntries[key].getSQLType())}`),
      sql`, `,
    )}
    WHERE ${stillWritable()}${keyed ? sql` AND EXISTS (SELECT 1 FROM claim)` : sql``}
      AND (${w.draftId}::uuid IS NULL OR EXISTS (
        SELECT 1 FROM ${journalDrafts} WHERE ${journalDrafts.id} = ${w.draftId}::uuid AND ${journalDrafts.authorId} = ${w.authorId}::uuid FOR UPDATE))
    RETURNING ${journalEntries.id}`;
}

/**
 * An entry, its products' batch indexes and its audit event in one statement (atomic without
 * a transaction of several round trips). The entry is written only if the client is still
 * live and the consent still active, both locked FOR SHARE: an erasure (or a withdrawal)
 * holding the row makes this statement wait, and then it sees the row as that left it, so an
 * entry never commits under a data key an erasure has destroyed; products and the event only
 * with it. A draft being signed is locked FOR UPDATE: of two signs of one draft, the second
 * waits, then finds the draft gone and writes nothing (404).
 */
function insertEntry(audit: AuditPart, keyed: boolean): SQL {
  return sql`WITH ${keyed ? sql`claim AS (${claimInsert()}), ` : sql``}entry AS (${entryInsert(keyed)}),
    products AS (
      INSERT INTO ${journalProducts} (${sql.join(
        [
          journalProducts.id,
          journalProducts.entryId,
          journalProducts.clientId,
          journalProducts.clinicId,
          journalProducts.batchIndex,
          journalProducts.performedAt,
        ].map((column) => sql.identifier(column.name)),
        sql`, `,
      )})
      SELECT p.id, entry.id, ${w.clientId}::uuid, ${w.clinicId}::uuid, p.batch_index, ${w.performedAt}::timestamptz
      FROM entry CROSS JOIN unnest(${w.productIds}::uuid[], ${w.batchIndexes}::bytea[]) AS p(id, batch_index)
    ),
    signed_draft AS (
      DELETE FROM ${journalDrafts} WHERE ${journalDrafts.id} = ${w.draftId}::uuid AND EXISTS (SELECT 1 FROM entry)
    )
    ${audit.perRowOf(sql`entry`)}`;
}

const INSERT_ENTRY = auditedStatement<EntryParams>('journal_insert_entry_v4', (audit) =>
  insertEntry(audit, false),
);

/** The same with its Idempotency-Key row, which commits with the entry or not at all. */
const INSERT_ENTRY_KEYED = auditedStatement<EntryParams & ClaimParams>(
  'journal_insert_entry_keyed_v3',
  (audit) => insertEntry(audit, true),
);

/** Writes the entry with its products and event; false when nothing was written (re-check). */
export async function insertEntryWithEvent(
  pool: pg.Pool,
  ctx: RequestContext,
  entry: EntryRow,
  products: { id: string; batchIndex: BlindIndex }[],
  events: AuditEventInput[],
  claim?: IdempotencyRowValues,
  draftId: string | null = null,
): Promise<boolean> {
  const params: EntryParams = {
    ...entry,
    draftId,
    performedAt: entry.performedAt.toISOString(),
    createdAt: entry.createdAt.toISOString(),
    productIds: products.map((product) => product.id),
    batchIndexes: products.map((product) => product.batchIndex),
  };
  const result = claim
    ? await INSERT_ENTRY_KEYED.run(pool, ctx, events, {
        ...params,
        ...(Object.fromEntries(
          CLAIM_COLUMNS.map((key) => {
            const value = claim[key];
            return [`claim_${key}`, value instanceof Date ? value.toISOString() : value];
          }),
        ) as ClaimParams),
      })
    : await INSERT_ENTRY.run(pool, ctx, events, params);
  return (result.rowCount ?? 0) > 0;
}
