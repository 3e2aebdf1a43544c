import { createHash } from 'node:crypto';
import { actorOf, type RequestContext } from '../../access/context.js';
import { encryptChunks, type ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, Forbidden, NotFound } from '../../errors.js';
import { idCursor } from '../../schemas/cursor.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { refuseWhileRestricted, scopedClient } from '../clients/clients.scope.js';
import { grantsPhotoScope, requirePhotoConsent } from './attachments.consent.js';
import { attachmentContent } from './attachments.export.js';
import { ATTACHMENT_FIELDS, presentAttachment } from './attachments.present.js';
import { peek, sniffType, stripStream } from './attachments.content.js';
import type { ImageInfo } from './attachments.strip.js';
import { attachmentsRepository as repo, type AttachmentRow } from './attachments.repository.js';
import type {
  Attachment,
  AttachmentListQuery,
  AttachmentMetadataInput,
} from './attachments.schemas.js';
import type { AttachmentStore } from './attachments.store.js';

export interface AttachmentsServiceDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  store: AttachmentStore;
  clock: () => Date;
  maxBytes: number;
}

/** A download about to be sent: its metadata and the decrypted content, chunk by chunk. */
export interface AttachmentDownload {
  attachment: Attachment;
  /** The first chunk is already opened (a failure there is a plain error answer). */
  content: AsyncIterable<Buffer>;
}

async function* hashing(
  source: AsyncIterable<Buffer>,
  sink: { hash: ReturnType<typeof createHash>; size: number },
): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    sink.hash.update(piece);
    sink.size += piece.length;
    yield piece;
  }
}

export function createAttachmentsService(deps: AttachmentsServiceDeps) {
  const { db, keys, audit, store, clock } = deps;

  function event(
    action: string,
    clientId: string,
    attachmentId: string | null,
    outcome: AuditEventInput['outcome'] = 'success',
  ): AuditEventInput {
    return {
      action,
      outcome,
      resourceType: attachmentId === null ? 'client' : 'attachment',
      resourceId: attachmentId ?? clientId,
      clientId,
    };
  }

  /** API.md "Roles": photos and documents are practitioners' only; reception sees scans. */
  function mayTouch(ctx: RequestContext, kind: AttachmentRow['kind']): boolean {
    return kind === 'consent-scan' || actorOf(ctx).role === 'practitioner';
  }

  function refuseKind(action: string, clientId: string, attachmentId: string | null): Forbidden {
    return new Forbidden('Your role may not handle this kind of attachment.', {
      audit: {
        action,
        resourceType: attachmentId === null ? 'client' : 'attachment',
        resourceId: attachmentId ?? clientId,
        clientId,
        reason: 'attachment_kind',
      },
    });
  }

  /** Computed at each read from the client's consents (API.md), never stored. */
  function marketingAllowed(executor: Executor, clientId: string): Promise<boolean> {
    return grantsPhotoScope(executor, clientId, 'marketing', clock());
  }

  async function readable(
    ctx: RequestContext,
    clientId: string,
    attachmentId: string,
    action: string,
  ) {
    await scopedClient(db, ctx, clientId, action);
    const row = await repo.find(db, clientId, attachmentId);
    if (!row) throw new NotFound('Attachment not found.');
    if (!mayTouch(ctx, row.kind)) throw refuseKind(action, clientId, attachmentId);
    return row;
  }

  return {
    /** Role first (before any byte of the file is read), so a refused upload reads nothing. */
    checkKind(ctx: RequestContext, clientId: string, metadata: AttachmentMetadataInput): void {
      if (!mayTouch(ctx, metadata.kind)) throw refuseKind('attachment.create', clientId, null);
    },

    /**
     * Streams the file into the store inside one transaction with the metadata row and its
     * audit event. Checks in API.md's order: (role: checkKind) type 415, size 413, rules.
     */
    async upload(
      ctx: RequestContext,
      clientId: string,
      metadata: AttachmentMetadataInput,
      file: AsyncIterable<Uint8Array>,
    ): Promise<Attachment> {
      this.checkKind(ctx, clientId, metadata);
      const actor = actorOf(ctx);
      await scopedClient(db, ctx, clientId, 'attachment.create');
      const { head, all } = await peek(file, deps.maxBytes);
      const contentType = await sniffType(head);
      // Streamed end to end: JPEG and PNG lose their metadata segment by segment as they
      // arrive; the size limit and the image bounds (413) apply on the way.
      const dimensions: ImageInfo = { width: null, height: null };
      const source = stripStream(contentType, all, dimensions);
      const id = uuidv7();
      // A store outside the database (S3) has written objects before the transaction ends:
      // when it rolls back they belong to no row and are removed (purge-expired sweeps any
      // that this misses).
      return db
        .transaction(async (tx) => {
          // FOR SHARE: an erasure waits for this upload or the upload finds the client gone.
          const { client } = await scopedClient(tx, ctx, clientId, 'attachment.create', {
            forShare: true,
          });
          const cipher = await keys.cipherFor(tx, clientId);
          const sink = { hash: createHash('sha256'), size: 0 };
          const chunkCount = await store.put(
            tx,
            id,
            encryptChunks(hashing(source, sink), cipher.attachmentKey(id), id),
          );
          // Rules (409) come after type and size, which are known only once the file is read.
          refuseWhileRestricted(client, clientId, 'attachment.create');
          if (metadata.kind === 'photo') await requirePhotoConsent(tx, clientId, clock());
          if (
            metadata.entryId !== undefined &&
            !(await repo.entryExists(tx, clientId, metadata.entryId))
          ) {
            throw new BadRequest('The request is not valid.', [
              { path: 'metadata.entryId', message: 'is not a journal entry of this client' },
            ]);
          }
          if (
            metadata.consentId !== undefined &&
            !(await repo.consentExists(tx, clientId, metadata.consentId))
          ) {
            throw new BadRequest('The request is not valid.', [
              { path: 'metadata.consentId', message: 'is not a consent of this client' },
            ]);
          }
          const row = await repo.insert(tx, {
            id,
            clientId,
            clinicId: client.clinicId,
            kind: metadata.kind,
            contentType,
            size: sink.size,
            chunkCount,
            sha256: cipher.seal(ATTACHMENT_FIELDS.sha256, id, sink.hash.digest('hex')),
            width: dimensions.width,
            height: dimensions.height,
            entryId: metadata.entryId ?? null,
            consentId: metadata.consentId ?? null,
            takenAt: metadata.takenAt === undefined ? null : new Date(metadata.takenAt),
            caption:
              metadata.caption === undefined
                ? null
                : cipher.seal(ATTACHMENT_FIELDS.caption, id, metadata.caption),
            createdBy: actor.userId,
            createdAt: clock(),
          });
          await audit.write(tx, ctx, [event('attachment.create', clientId, id)]);
          const attachment = presentAttachment(cipher, row, await marketingAllowed(tx, clientId));
          await ctx.idempotency?.remember(tx, { clientId, body: attachment });
          return attachment;
        })
        .catch(async (error: unknown) => {
          await store.discard([id]).catch(() => undefined);
          throw error;
        });
    },

    async list(
      ctx: RequestContext,
      clientId: string,
      query: AttachmentListQuery,
    ): Promise<{ items: Attachment[]; nextCursor: string | null }> {
      await scopedClient(db, ctx, clientId, 'attachment.list');
      const rows = await repo.list(
        db,
        clientId,
        {
          entryId: query.entryId,
          consentId: query.consentId,
          consentScansOnly: actorOf(ctx).role !== 'practitioner',
          after: idCursor.decode(query.cursor),
        },
        query.limit + 1,
      );
      const page = rows.slice(0, query.limit);
      const cipher = await keys.cipherFor(db, clientId);
      const marketing = await marketingAllowed(db, clientId);
      const items = page.map((row) => presentAttachment(cipher, row, marketing));
      await audit.record(ctx, [event('attachment.list', clientId, null)]);
      const last = rows.length > query.limit ? page.at(-1)?.id : undefined;
      return { items, nextCursor: last === undefined ? null : idCursor.encode(last) };
    },

    async get(ctx: RequestContext, clientId: string, attachmentId: string): Promise<Attachment> {
      const row = await readable(ctx, clientId, attachmentId, 'attachment.read');
      const attachment = presentAttachment(
        await keys.cipherFor(db, clientId),
        row,
        await marketingAllowed(db, clientId),
      );
      await audit.record(ctx, [event('attachment.read', clientId, attachmentId)]);
      return attachment;
    },

    /**
     * Opens the first chunk before anything is sent, so a tampered start is a plain error
     * answer; a later failure ends the iteration with DecryptionFailed (the route aborts the
     * connection short of Content-Length, and calls `failed`).
     */
    async download(
      ctx: RequestContext,
      clientId: string,
      attachmentId: string,
    ): Promise<AttachmentDownload> {
      const row = await readable(ctx, clientId, attachmentId, 'attachment.download');
      const cipher = await keys.cipherFor(db, clientId);
      const attachment = presentAttachment(cipher, row, await marketingAllowed(db, clientId));
      const chunks = attachmentContent(store, cipher, attachmentId);
      let first: IteratorResult<Buffer>;
      try {
        first = await chunks.next();
      } catch (error) {
        await audit.record(ctx, [
          {
            ...event('attachment.download', clientId, attachmentId, 'failure'),
            reason: 'integrity',
          },
        ]);
        throw error;
      }
      await audit.record(ctx, [event('attachment.download', clientId, attachmentId)]);
      async function* content(): AsyncGenerator<Buffer> {
        if (!first.done) yield first.value;
        yield* chunks;
      }
      return { attachment, content: content() };
    },

    /** A download that failed after its first chunk: the failure is audited too. */
    async downloadFailed(
      ctx: RequestContext,
      clientId: string,
      attachmentId: string,
    ): Promise<void> {
      await audit.record(ctx, [
        { ...event('attachment.download', clientId, attachmentId, 'failure'), reason: 'integrity' },
      ]);
    },
  };
}

export type AttachmentsService = ReturnType<typeof createAttachmentsService>;
