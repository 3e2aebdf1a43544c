import { z } from 'zod';
import { dateTimeInput } from '../../schemas/text.js';
import { ROLES } from '../../access/roles.js';

export const auditEventSchema = z
  .object({
    id: z.uuid(),
    at: z.iso.datetime(),
    actorId: z.uuid().nullable(),
    actorRole: z.enum(ROLES).nullable(),
    action: z.string(),
    outcome: z.enum(['success', 'denied', 'failure']),
    resourceType: z.string().nullable(),
    resourceId: z.string().nullable(),
    clientId: z.uuid().nullable(),
    requestId: z.string().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    breakGlass: z.boolean(),
    reason: z.string().nullable(),
    purposeOfUse: z.string().nullable(),
  })
  .meta({ id: 'AuditEvent', description: 'Who did what, when, with what outcome: ids only.' });

export type AuditEvent = z.infer<typeof auditEventSchema>;

export const auditPageSchema = z
  .object({ items: z.array(auditEventSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'AuditEventPage' });

const limit = z.coerce.number().int().min(1).max(500).default(50);
const cursor = z.string().max(300).optional();
const range = {
  from: dateTimeInput().optional().describe('Events at or after this time'),
  to: dateTimeInput().optional().describe('Events before this time'),
};

export const auditQuerySchema = z.strictObject({
  ...range,
  actorId: z.uuid().optional(),
  clientId: z.uuid().optional(),
  action: z
    .string()
    .regex(/^[a-z][a-zA-Z0-9_.]{0,63}$/)
    .optional(),
  outcome: z.enum(['success', 'denied', 'failure']).optional(),
  limit,
  cursor,
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export const auditExportQuerySchema = z.strictObject({
  ...range,
  format: z.enum(['ndjson', 'csv']).default('ndjson'),
});

export const auditVerifyQuerySchema = z.strictObject({
  ...range,
  head: z
    .string()
    .regex(/^[1-9]\d{0,15}:[0-9a-fA-F]{64}$/)
    .refine(
      (head) => Number(head.split(':')[0]) <= Number.MAX_SAFE_INTEGER,
      'the position is past any chain',
    )
    .optional()
    .describe('A checkpoint kept outside the database, `position:hash`, to catch a cut tail'),
  full: z
    .enum(['true', 'false'])
    .transform((value) => value === 'true')
    .optional()
    .describe(
      'Recompute every link from the start, not only those after the last verified checkpoint ' +
        '(finds an event changed before it)',
    ),
});

/** A position in the chain: from 1, as far as a JSON number holds an integer exactly. */
const chainPosition = z.int().min(1);

export const verifyResultSchema = z
  .object({
    ok: z.boolean(),
    checked: z.int().min(0).describe('Links recomputed'),
    head: z.object({ position: chainPosition, hash: z.string() }).nullable(),
    firstBad: z
      .object({
        position: chainPosition.nullable(),
        eventId: z.uuid().nullable(),
        problem: z.string(),
      })
      .nullable(),
    pending: z.int().min(0).describe('Events committed but not sealed yet'),
    since: chainPosition
      .nullable()
      .describe(
        'The last verified checkpoint this run continued from: only the links after it were ' +
          'recomputed (null: from the start, or a range)',
      ),
  })
  .meta({ id: 'AuditVerifyResult' });

export const accessLogParamsSchema = z.strictObject({ id: z.uuid() });
export const accessLogQuerySchema = z.strictObject({ limit, cursor });

/**
 * The NDJSON export: one AuditEvent per line, declared as the array of its lines; the
 * document shows it as text whose `contentSchema` is that array (plugins/openapi-document.ts).
 */
export const exportNdjsonSchema = z
  .array(auditEventSchema)
  .describe('One AuditEvent (JSON) per line, each ended by a line feed');

/** The CSV export: a header row, then one row per event (CSV_COLUMNS, RFC 4180). */
export const exportCsvSchema = z.string();
