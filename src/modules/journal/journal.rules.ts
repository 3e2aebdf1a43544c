import type { ClientCipher } from '../../crypto/index.js';
import type { Sealed } from '../../crypto/sealed.js';
import { Conflict, type ProblemOptions } from '../../errors.js';
import { CLIENT_FIELDS } from '../clients/clients.fields.js';

/** LATE_ENTRY_HOURS' default: an entry signed later than this after the treatment is recordedLate. */
export const LATE_ENTRY_HOURS_DEFAULT = 24;
/** Tolerated clock difference between a tablet and the server. */
export const CLOCK_SKEW_MS = 60 * 1000;

/** A consent covering a treatment type, with what the journal rules need of its template. */
export interface CoveringConsent {
  consent: {
    id: string;
    status: 'active' | 'withdrawn';
    signedAt: Date;
    informedAt: Date | null;
    expiresAt: Date | null;
    /** A later version of its template's key that reconsentRequired was published by performedAt. */
    outdated: boolean;
  };
  template: {
    coolingOffHours: number | null;
    minimumAge: number | null;
    requiresAuthorisation: boolean;
    inkRecordRequired: boolean;
  };
}

/** What the rules know of a treatment beyond its consents. */
export interface TreatmentFacts {
  /** The performer or the responsible person holds an authorisationId. */
  authorised: boolean;
  /** At least one product, and each with its batchNumber and supplier. */
  inkRecordComplete: boolean;
}

/** Full years between a YYYY-MM-DD birth date and the UTC date of `on`. */
export function ageOn(dateOfBirth: string, on: Date): number {
  const [year, month, day] = dateOfBirth.split('-').map(Number) as [number, number, number];
  const age = on.getUTCFullYear() - year;
  const before =
    on.getUTCMonth() + 1 < month || (on.getUTCMonth() + 1 === month && on.getUTCDate() < day);
  return before ? age - 1 : age;
}

/**
 * The consent a treatment relies on, or a 409 naming the first rule no covering consent
 * satisfies: consent_missing, consent_withdrawn, consent_after_treatment, consent_expired,
 * consent_outdated, cooling_off, minimum_age, authorisation_required, ink_record_missing
 * (API.md "Journal").
 */
export function consentFor(
  covering: readonly CoveringConsent[],
  client: { id: string; dateOfBirth: Sealed<string> | Uint8Array },
  cipher: ClientCipher,
  performedAt: Date,
  facts: TreatmentFacts,
): string {
  // Each refusal is audited (API.md "What is audited": 409 refusals), naming the rule.
  const refusal = (rule: string): ProblemOptions => ({
    audit: {
      action: 'journal.create',
      resourceType: 'client',
      resourceId: client.id,
      clientId: client.id,
      reason: rule,
    },
  });
  if (covering.length === 0) {
    throw Conflict.rule(
      'consent_missing',
      'No consent of this client covers this treatment type; record a signed consent first.',
      refusal('consent_missing'),
    );
  }
  const active = covering.filter((row) => row.consent.status === 'active');
  if (active.length === 0) {
    throw Conflict.rule(
      'consent_withdrawn',
      'Every consent covering this treatment type has been withdrawn.',
      refusal('consent_withdrawn'),
    );
  }
  const before = active.filter((row) => row.consent.signedAt <= performedAt);
  if (before.length === 0) {
    throw Conflict.rule(
      'consent_after_treatment',
      'The consent covering this treatment was signed after it was performed.',
      refusal('consent_after_treatment'),
    );
  }
  const current = before.filter(
    (row) => row.consent.expiresAt === null || performedAt < row.consent.expiresAt,
  );
  if (current.length === 0) {
    throw Conflict.rule(
      'consent_expired',
      'Every consent covering this treatment had expired when it was performed; record a new one.',
    );
  }
  const upToDate = current.filter((row) => !row.consent.outdated);
  if (upToDate.length === 0) {
    throw Conflict.rule(
      'consent_outdated',
      'A new version of the consent text requires the client to sign again.',
    );
  }
  // Cooling-off counts from when the client was informed, else from the signature.
  const cooled = upToDate.filter(
    (row) =>
      (row.consent.informedAt ?? row.consent.signedAt).getTime() +
        (row.template.coolingOffHours ?? 0) * 3_600_000 <=
      performedAt.getTime(),
  );
  if (cooled.length === 0) {
    throw Conflict.rule(
      'cooling_off',
      "The consent was signed less than the template's cooling-off period before the treatment.",
      refusal('cooling_off'),
    );
  }
  const dateOfBirth = cipher.open(CLIENT_FIELDS.dateOfBirth, client.id, client.dateOfBirth);
  const age = ageOn(dateOfBirth, performedAt);
  const aged = cooled.filter((row) => age >= (row.template.minimumAge ?? 0));
  if (aged.length === 0) {
    throw Conflict.rule(
      'minimum_age',
      "The client was younger than the template's minimum age on the day of the treatment.",
      refusal('minimum_age'),
    );
  }
  const allowed = aged.filter((row) => !row.template.requiresAuthorisation || facts.authorised);
  if (allowed.length === 0) {
    throw Conflict.rule(
      'authorisation_required',
      'This treatment must be performed by, or delegated under the responsibility of, an authorised practitioner.',
    );
  }
  const eligible = allowed.find(
    (row) => !row.template.inkRecordRequired || facts.inkRecordComplete,
  );
  if (!eligible) {
    throw Conflict.rule(
      'ink_record_missing',
      'The consent requires an ink record: list each ink used with its batchNumber and supplier.',
    );
  }
  return eligible.consent.id;
}
