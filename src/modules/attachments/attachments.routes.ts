import { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { DecryptionFailed } from '../../crypto/index.js';
import { BadRequest, HttpProblem, MethodNotAllowed } from '../../errors.js';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import {
  attachmentContentSchema,
  attachmentListQuery,
  attachmentMetadataSchema,
  attachmentPageSchema,
  attachmentParams,
  attachmentSchema,
  clientAttachmentParams,
  uploadBodySchema,
} from './attachments.schemas.js';
import { fileNameOf } from './attachments.export.js';
import { createAttachmentsService } from './attachments.service.js';
import { createPostgresStore, type AttachmentStore } from './attachments.store.js';

export interface AttachmentsRoutesOptions {
  maxBytes: number;
  /** Default: the PostgreSQL store over app.db. */
  store?: AttachmentStore;
}

/** The stored content failed its integrity check before anything was sent. */
class StoredContentDamaged extends HttpProblem {
  readonly status = 500;
}

/** Clinical photos, documents and consent scans of a client (API.md "Attachments"). */
export const attachmentsRoutes: FastifyPluginAsyncZod<AttachmentsRoutesOptions> = async (
  app,
  options,
) => {
  const attachments = createAttachmentsService({
    db: app.db,
    keys: app.keys,
    audit: app.audit,
    store: options.store ?? createPostgresStore(app.db),
    clock: app.clock,
    maxBytes: options.maxBytes,
  });

  // Streamed: busboy hands the file on as it arrives. One field and one file; a file part
  // stops one byte past the limit (the service answers 413), the rest is never buffered.
  await app.register(multipart, {
    limits: {
      fields: 1,
      files: 1,
      parts: 2,
      fieldSize: 16 * 1024,
      fileSize: options.maxBytes + 1,
      headerPairs: 20,
    },
  });

  app.post(
    '/v1/clients/:id/attachments',
    {
      config: { permission: 'attachments.write', idempotent: true },
      // The multipart body is read by the handler, part by part; its schema documents it.
      validatorCompiler: (route) =>
        route.httpPart === 'body'
          ? () => ({ value: undefined })
          : validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0]),
      schema: {
        tags: ['attachments'],
        operationId: 'createAttachment',
        summary: 'Upload a photo, document or consent scan (multipart, streamed)',
        description:
          "A `multipart/form-data` body: first a part `metadata` (JSON, AttachmentMetadataInput), then a part `file`. `photo` and `document` are practitioners' only; `consent-scan` (with `consentId`) reception's or a practitioner's. The type is taken from the bytes: JPEG, PNG, HEIC or PDF, else 415 (also an image that cannot be read, e.g. a HEIC whose boxes do not parse). Image metadata (EXIF with GPS, XMP, IPTC, PNG text; in a HEIC its Exif, XMP and other metadata items, zeroed in place) is removed before anything is stored; orientation and colour profile are kept; over ATTACHMENT_MAX_BYTES 413; images at most 16384 pixels a side and 100 megapixels (413). Checks run in the order role (403), type (415), size (413), rules (409): a `photo` needs an active, unexpired consent of the client whose `photoScopes` include `clinical` (else `rule: photo_consent_missing`), and a client whose processing is restricted takes no new attachment (`rule: processing_restricted`). `marketingAllowed` is computed at each read: whether an active, unexpired consent grants the `marketing` photo scope. Stored encrypted in 64 KiB chunks under the client's data key.",
        consumes: ['multipart/form-data'],
        params: clientAttachmentParams,
        body: uploadBodySchema,
        response: {
          201: attachmentSchema,
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new BadRequest('The request is not valid.', [
          { path: 'body', message: 'must be multipart/form-data with parts metadata and file' },
        ]);
      }
      const iterator = request.parts()[Symbol.asyncIterator]();
      const parts = { next: () => nextPart(iterator) };
      const first = await parts.next();
      if (first.done || first.value.type !== 'field' || first.value.fieldname !== 'metadata') {
        throw new BadRequest('The request is not valid.', [
          { path: 'body.metadata', message: 'the first part must be the field metadata' },
        ]);
      }
      let json: unknown;
      try {
        json = JSON.parse(String(first.value.value));
      } catch {
        throw new BadRequest('The request is not valid.', [
          { path: 'body.metadata', message: 'must be JSON' },
        ]);
      }
      const parsed = attachmentMetadataSchema.safeParse(json);
      if (!parsed.success) {
        throw new BadRequest(
          'The request is not valid.',
          parsed.error.issues.map((issue) => ({
            path: ['metadata', ...issue.path].join('.'),
            message: issue.message,
          })),
        );
      }
      attachments.checkKind(request.ctx, request.params.id, parsed.data);
      const second = await parts.next();
      if (second.done || second.value.type !== 'file' || second.value.fieldname !== 'file') {
        throw new BadRequest('The request is not valid.', [
          { path: 'body.file', message: 'the second part must be the file' },
        ]);
      }
      try {
        const created = await attachments.upload(
          request.ctx,
          request.params.id,
          parsed.data,
          second.value.file,
        );
        return await reply.code(201).send(created);
      } catch (error) {
        // Whatever is left of a refused upload is not read: the connection closes after the answer.
        if (!second.value.file.readableEnded) void reply.header('connection', 'close');
        throw error;
      }
    },
  );

  app.get(
    '/v1/clients/:id/attachments',
    {
      config: { permission: 'attachments.read' },
      schema: {
        tags: ['attachments'],
        operationId: 'listAttachments',
        summary: "List a client's attachments (metadata), oldest first",
        description: 'Reception sees consent scans only.',
        params: clientAttachmentParams,
        querystring: attachmentListQuery,
        response: {
          200: attachmentPageSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => attachments.list(request.ctx, request.params.id, request.query),
  );

  app.get(
    '/v1/clients/:id/attachments/:attachmentId',
    {
      config: { permission: 'attachments.read' },
      schema: {
        tags: ['attachments'],
        operationId: 'getAttachment',
        summary: "An attachment's metadata",
        params: attachmentParams,
        response: {
          200: attachmentSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => attachments.get(request.ctx, request.params.id, request.params.attachmentId),
  );

  app.get(
    '/v1/clients/:id/attachments/:attachmentId/content',
    {
      config: { permission: 'attachments.read' },
      schema: {
        tags: ['attachments'],
        operationId: 'getAttachmentContent',
        summary: "Download an attachment's content (streamed, decrypted chunk by chunk)",
        description:
          'The bytes with their Content-Type, Content-Length and `Content-Disposition: attachment`. Each 64 KiB chunk is checked as it is decrypted: when the first fails the answer is a 500 problem; when a later one fails the connection is closed short of Content-Length, so a partial file cannot pass for a whole one. Both are logged and audited.',
        params: attachmentParams,
        response: {
          200: {
            description: 'The stored bytes',
            content: {
              'image/jpeg': { schema: attachmentContentSchema },
              'image/png': { schema: attachmentContentSchema },
              'image/heic': { schema: attachmentContentSchema },
              'application/pdf': { schema: attachmentContentSchema },
            },
          },
          ...problemResponses(400, 404, 500, ...AUTHENTICATED_PROBLEMS),
        },
        responseHeaders: { 200: ['Content-Disposition'] },
      },
    },
    async (request, reply) => {
      const { id, attachmentId } = request.params;
      let download;
      try {
        download = await attachments.download(request.ctx, id, attachmentId);
      } catch (error) {
        if (!(error instanceof DecryptionFailed)) throw error;
        request.log.error({ attachmentId }, 'attachment failed its integrity check');
        throw new StoredContentDamaged('The stored attachment failed its integrity check.');
      }
      const { attachment, content } = download;
      const ctx = request.ctx;
      async function* guarded(): AsyncGenerator<Buffer> {
        try {
          yield* content;
        } catch (error) {
          request.log.error({ attachmentId }, 'attachment failed its integrity check mid-download');
          await attachments.downloadFailed(ctx, id, attachmentId).catch(() => undefined);
          throw error;
        }
      }
      return reply
        .type(attachment.contentType)
        .header('content-length', String(attachment.size))
        .header('content-disposition', `attachment; filename="${fileNameOf(attachment)}"`)
        .send(Readable.from(guarded(), { objectMode: false }) as unknown as string);
    },
  );

  // Attachments never change and are never deleted, except by the client's erasure.
  for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
    app.route({
      method,
      url: '/v1/clients/:id/attachments/:attachmentId',
      config: { permission: 'attachments.write' },
      schema: {
        tags: ['attachments'],
        operationId: `${method.toLowerCase()}Attachment`,
        summary: `${method} is not allowed: attachments are immutable`,
        description: "Always 405; an attachment goes only with the client's erasure.",
        params: attachmentParams,
        response: problemResponses(400, 405, 413, 415, ...AUTHENTICATED_PROBLEMS),
      },
      handler: async () => {
        throw new MethodNotAllowed(
          "Attachments never change and are never deleted, except by the client's erasure.",
          { headers: { allow: 'GET' } },
        );
      },
    });
  }
};

/**
 * The next part of a multipart body. What the parser cannot read (a body that is not the
 * multipart its Content-Type says, a form cut short) is the client's mistake: 400, not 500.
 * Errors that carry their own 4xx status (a part too large: 413) keep it.
 */
async function nextPart<T>(parts: AsyncIterator<T>): Promise<IteratorResult<T>> {
  try {
    return await parts.next();
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) throw error;
    throw new BadRequest('The request is not valid.', [
      { path: 'body', message: 'is not a readable multipart/form-data body' },
    ]);
  }
}
