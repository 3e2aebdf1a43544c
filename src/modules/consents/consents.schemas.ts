import { imageSize } from 'image-size';
import { z } from 'zod';
import { dateTimeInput, freeText, singleLine } from '../../schemas/text.js';
import {
  photoScopeSchema,
  photoScopesSchema,
  templateVersionSchema,
} from '../templates/templates.schemas.js';

/** A signature image: base64 of a PNG of at most 256 KiB decoded. */
export const SIGNATURE_MAX_BYTES = 256 * 1024;
/**
 * The largest width and height a signature PNG may declare: a few hundred kilobytes of PNG can
 * declare a 100 000 × 100 000 image, which anything that renders it has to allocate.
 */
export const SIGNATURE_MAX_SIDE = 4096;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const ANSWERS_MAX_BYTES = 16 * 1024;
export const ANSWERS_MAX_DEPTH = 5;

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const members = Array.isArray(value) ? value : Object.values(value);
  return 1 + members.reduce<number>((max, member) => Math.max(max, depthOf(member)), 0);
}

export const signatureImageSchema = z
  .string()
  // base64 of 256 KiB is 349 528 characters; anything longer cannot be valid.
  .max(Math.ceil(SIGNATURE_MAX_BYTES / 3) * 4, 'must be at most 256 KiB of PNG (decoded)')
  .superRefine((value, context) => {
    if (!BASE64.test(value)) {
      context.addIssue({ code: 'custom', message: 'must be base64 (RFC 4648, padded)' });
      return;
    }
    const bytes = Buffer.from(value, 'base64');
    if (bytes.length > SIGNATURE_MAX_BYTES) {
      context.addIssue({ code: 'custom', message: 'must be at most 256 KiB of PNG (decoded)' });
    } else if (bytes.length < 8 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
      context.addIssue({ code: 'custom', message: 'must be a PNG image' });
    } else {
      // The declared dimensions (IHDR), read by image-size without decoding any pixel.
      let size: { width?: number; height?: number; type?: string } | undefined;
      try {
        size = imageSize(bytes);
      } catch {
        size = undefined;
      }
      if (size?.type !== 'png' || !size.width || !size.height) {
        context.addIssue({ code: 'custom', message: 'must be a PNG image' });
      } else if (size.width > SIGNATURE_MAX_SIDE || size.height > SIGNATURE_MAX_SIDE) {
        context.addIssue({
          code: 'custom',
          message: `must be at most ${SIGNATURE_MAX_SIDE} × ${SIGNATURE_MAX_SIDE} pixels`,
        });
      }
    }
  })
  .meta({
    contentEncoding: 'base64',
    contentMediaType: 'image/png',
    description: `A PNG of at most 256 KiB (decoded) and ${SIGNATURE_MAX_SIDE} × ${SIGNATURE_MAX_SIDE} pixels, base64 (RFC 4648, padded)`,
  });

export const answersSchema = z
  .record(z.string().max(200), z.unknown())
  .superRefine((value, context) => {
    if (Buffer.byteLength(JSON.stringify(value), 'utf8') > ANSWERS_MAX_BYTES) {
      context.addIssue({ code: 'custom', message: 'must be at most 16 KiB as JSON' });
    } else if (depthOf(value) > ANSWERS_MAX_DEPTH) {
      context.addIssue({
        code: 'custom',
        message: `must nest at most ${ANSWERS_MAX_DEPTH} levels`,
      });
    }
  })
  .describe(
    `The answers to the template's questions: at most ${ANSWERS_MAX_BYTES / 1024} KiB as JSON (UTF-8), nested at most ${ANSWERS_MAX_DEPTH} levels, keys at most 200 characters`,
  );

export const createConsentSchema = z
  .strictObject({
    templateId: z.uuid(),
    signerName: singleLine(z.string().trim().min(1).max(200)),
    signatureImage: signatureImageSchema.optional(),
    answers: answersSchema.optional(),
    signedAt: dateTimeInput()
      .optional()
      .describe('When the client signed; now if absent, at most 30 days back'),
    informedBy: z
      .uuid()
      .optional()
      .describe(
        "The practitioner of the client's clinic who informed the client (an authorised one when the template requiresAuthorisation)",
      ),
    informedAt: dateTimeInput()
      .optional()
      .describe('When the client was informed: not after signedAt, at most 90 days before it'),
    photoScopes: photoScopesSchema
      .optional()
      .describe("The photo uses the client granted: a subset of the template's photoScopes"),
  })
  .meta({
    id: 'ConsentCreate',
    requestExample: {
      templateId: '01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f',
      signerName: 'Karen Jensen',
      answers: { pregnant: false, allergies: 'none known' },
    },
  });

export type CreateConsentInput = z.output<typeof createConsentSchema>;

export const withdrawConsentSchema = z
  .strictObject({ reason: freeText(z.string().trim().min(3).max(1000)) })
  .meta({ id: 'ConsentWithdraw', requestExample: { reason: 'The client withdrew her consent' } });

export const consentSchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid(),
    templateId: z.uuid(),
    templateKey: z.string(),
    templateVersion: templateVersionSchema,
    signedAt: z.iso.datetime(),
    recordedAt: z.iso.datetime(),
    witnessedBy: z.uuid(),
    documentHash: z.string(),
    status: z.enum(['active', 'withdrawn']),
    withdrawnAt: z.iso.datetime().nullable(),
    informedBy: z.uuid().nullable(),
    informedAt: z.iso.datetime().nullable(),
    photoScopes: z.array(photoScopeSchema),
    expiresAt: z.iso
      .datetime()
      .nullable()
      .describe('signedAt + the template validForDays; null when it does not expire'),
  })
  .meta({ id: 'Consent' });

export const consentDetailSchema = consentSchema
  .extend({
    signerName: z.string(),
    signatureImage: z.string().nullable(),
    answers: z.record(z.string(), z.unknown()).nullable(),
    withdrawalReason: z.string().nullable(),
    template: z.object({
      id: z.uuid(),
      key: z.string(),
      version: templateVersionSchema,
      title: z.string(),
      body: z.string(),
      bodyHash: z.string(),
      language: z.string(),
      treatmentTypes: z.array(z.string()),
    }),
  })
  .meta({ id: 'ConsentDetail' });

export type Consent = z.output<typeof consentSchema>;
export type ConsentDetail = z.output<typeof consentDetailSchema>;

export const consentListSchema = z
  .object({ items: z.array(consentSchema) })
  .meta({ id: 'ConsentList' });

export const clientConsentParams = z.strictObject({ id: z.uuid() });
export const consentParams = z.strictObject({ id: z.uuid(), consentId: z.uuid() });
