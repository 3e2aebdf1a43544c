import { z } from 'zod';
import { BREAK_GLASS_MAX, BREAK_GLASS_MIN } from '../access/break-glass.js';
import { PURPOSE_OF_USE } from '../access/request-context.js';

/** A request id the service keeps as sent; anything else is replaced by a fresh UUID. */
export const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** `Idempotency-Key`: 1–255 printable ASCII characters, no space (API.md "Conventions"). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * A request header as the document shows it (`components.parameters`), always optional. It
 * has no example: Swagger UI's "Try it out" fills a header with its example, and would send
 * the same request id, purpose or break-glass reason every time.
 */
export interface RequestHeaderDefinition {
  description: string;
  schema: z.ZodType;
}

/** A response header as the document shows it (`components.headers`). */
export interface ResponseHeaderDefinition {
  description: string;
  schema: z.ZodType;
  example: string | number;
  /** `false` for a header sent on only some answers of a status it is declared on. */
  required?: false;
}

/**
 * The request headers the service reads, each documented once (`components.parameters`).
 * plugins/swagger.ts adds X-Request-Id to every operation, X-Purpose-Of-Use to every /v1
 * operation and X-Break-Glass-Reason to the routes break-glass applies to (the same
 * permission access/break-glass.ts checks); a route that reads another header defined here
 * names it in its `schema.requestHeaders`.
 */
export const REQUEST_HEADERS = {
  'X-Request-Id': {
    description:
      'Your id for this request, echoed in the X-Request-Id response header and kept on its audit events; one outside this pattern is replaced by a generated UUID.',
    schema: z.string().regex(SANE_REQUEST_ID),
  },
  'X-Purpose-Of-Use': {
    description:
      'Why the data is accessed (e.g. `treatment`, `billing`, `complaint`): kept on every audit event of the request. A malformed value answers 400.',
    schema: z.string().regex(PURPOSE_OF_USE),
  },
  'X-Break-Glass-Reason': {
    description:
      "Break-glass (practitioners only): read the journal of another clinic's client, stating why. The audit events are marked `breakGlass` with this reason. Outside a journal read, or too short, it answers 400.",
    schema: z.string().min(BREAK_GLASS_MIN).max(BREAK_GLASS_MAX),
  },
  'Idempotency-Key': {
    description:
      'Makes a write safe to retry (1–255 characters, each 0x21–0x7E), scoped to you. A 2xx answer is remembered for 24 hours: the same key with the same method, path and body gets it again with `Idempotency-Replayed: true`, and nothing is written twice. The same key with another request answers 422; while the first is still running, 409. Other answers are not remembered.',
    schema: z.string().regex(IDEMPOTENCY_KEY),
  },
  'If-Match': {
    description:
      'The `ETag` you last read: the change is made only if the resource has not changed since (else 412, and nothing changes).',
    schema: z.string().min(1).max(256),
  },
} as const satisfies Record<string, RequestHeaderDefinition>;

/**
 * The response headers the service sends, each documented once (`components.headers`).
 * plugins/swagger.ts adds X-Request-Id to every response and Retry-After to every 429 and
 * 503; a route that sends another header defined here names it per status in its
 * `schema.responseHeaders`.
 */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description: 'The id of this request: yours if you sent a sane one, else a generated UUID.',
    schema: z.string().regex(SANE_REQUEST_ID),
    example: '0196f1c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d',
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: z.int().min(1).max(86_400),
    example: 5,
  },
  'Content-Disposition': {
    description: 'The body is a file to save, with its name.',
    schema: z.string(),
    example: 'attachment; filename="audit-events-2030-01-15T09-00-00-000Z.ndjson"',
  },
  'Idempotency-Replayed': {
    description:
      'Sent (`true`) when this is the remembered answer to an earlier request with the same Idempotency-Key; nothing was written again.',
    schema: z.literal('true'),
    example: 'true',
    required: false,
  },
  ETag: {
    description:
      'The version of this resource (strong), derived from a version counter, never from its values. Send it back in If-Match. (A replayed answer, Idempotency-Replayed, carries none: read the resource again.)',
    schema: z.string(),
    example: '"3"',
    required: false,
  },
} as const satisfies Record<string, ResponseHeaderDefinition>;

export type RequestHeaderName = keyof typeof REQUEST_HEADERS;
export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;
