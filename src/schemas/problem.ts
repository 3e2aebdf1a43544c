import { z } from 'zod';

/**
 * Every `rule` a 409 can name (API.md "Journal", "Clients", "Consents"): `Conflict.rule()`
 * accepts only these, and the document's `Problem.rule` enum is generated from them, so a
 * typed client can branch on exactly what the server sends. A new rule is added here first.
 */
export const CONFLICT_RULES = [
  'legal_hold',
  'retention',
  'already_withdrawn',
  'consent_missing',
  'consent_withdrawn',
  'consent_after_treatment',
  'cooling_off',
  'minimum_age',
  'consent_expired',
  'consent_outdated',
  'authorisation_required',
  'responsible_not_authorised',
  'performer_not_allowed',
  'ink_record_missing',
  'processing_restricted',
  'already_countersigned',
  'already_entered_in_error',
  'idempotency_in_progress',
  'photo_consent_missing',
] as const;
export type ConflictRule = (typeof CONFLICT_RULES)[number];

/** RFC 9457 problem details, as every error of this API is answered. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    errors: z
      .array(
        z.object({
          path: z.string().describe('Where, e.g. `body.email` or `headers.x-purpose-of-use`'),
          message: z.string(),
        }),
      )
      .optional()
      .describe('400: each field that is not valid'),
    rule: z
      .enum(CONFLICT_RULES)
      .optional()
      .describe('409: the rule the request broke, where there is one'),
    retainUntil: z.iso
      .datetime()
      .optional()
      .describe('409 `retention`: the client cannot be erased before this time'),
    mfaRequired: z
      .literal(true)
      .optional()
      .describe('401 at login: send the one-time code (`otp`) too'),
    mfaEnrollmentRequired: z
      .literal(true)
      .optional()
      .describe('403: the role requires a second factor; enrol one, then log in again'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });
