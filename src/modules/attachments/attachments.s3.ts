import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { inArray } from 'drizzle-orm';
import type { S3StoreConfig } from '../../config.s3.js';
import { CHUNK_BYTES, CHUNK_OVERHEAD, DecryptionFailed } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { attachments } from '../../db/schema/index.js';
import { ServiceUnavailable } from '../../errors.js';
import type { AttachmentStore } from './attachments.store.js';

/**
 * The S3-compatible store (AWS S3, MinIO, s3rver...): one object per sealed chunk, under
 *
 *   attachments/<attachment id>/<chunk index, 8 digits>
 *
 * Keys hold ids only, never a personal value. One object per chunk rather than one object per
 * attachment (a multipart upload) keeps both directions in constant memory with nothing to
 * buffer: a multipart part must be at least 5 MiB, so one object would mean holding 5 MiB per
 * upload (or several parts in flight), and a download would have to cut a byte stream back
 * into chunks. Here an upload has at most IN_FLIGHT chunks (64 KiB each) on the wire and a
 * download reads at most IN_FLIGHT ahead. A missing object ends the stream: the chunk before
 * it was not sealed as final, so decryptChunks fails (a deleted object reads as truncation).
 */
export const S3_KEY_PREFIX = 'attachments/';
/** Chunks written or read ahead at a time, per request. */
const IN_FLIGHT = 4;
/** No object the service wrote is larger; a bigger one is refused before it is read. */
const MAX_OBJECT_BYTES = CHUNK_BYTES + CHUNK_OVERHEAD;
/** What DeleteObjects takes at once. */
const DELETE_BATCH = 1000;

export const chunkKey = (attachmentId: string, index: number): string =>
  `${S3_KEY_PREFIX}${attachmentId}/${String(index).padStart(8, '0')}`;

const unavailable = () =>
  new ServiceUnavailable('The attachment store cannot be reached; try again shortly.');

function isMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

export interface S3Store extends AttachmentStore {
  readonly kind: 's3';
  readonly client: S3Client;
  readonly bucket: string;
}

export function createS3Store(config: S3StoreConfig): S3Store {
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    maxAttempts: 3,
  });
  const Bucket = config.bucket;

  /** Errors of the store answer 503; the SDK's own text (hosts, keys) never reaches a client. */
  async function send<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isMissing(error)) throw error;
      throw unavailable();
    }
  }

  async function readChunk(
    attachmentId: string,
    index: number,
    signal: AbortSignal,
  ): Promise<Buffer | null> {
    try {
      const answer = await send(() =>
        client.send(new GetObjectCommand({ Bucket, Key: chunkKey(attachmentId, index) }), {
          abortSignal: signal,
        }),
      );
      if ((answer.ContentLength ?? 0) > MAX_OBJECT_BYTES || !answer.Body) {
        (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new DecryptionFailed();
      }
      return Buffer.from(await send(() => answer.Body!.transformToByteArray()));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  /** Every key under `prefix`, a page (at most 1000) at a time. */
  async function* listAll(prefix: string): AsyncGenerator<_Object[]> {
    let ContinuationToken: string | undefined;
    do {
      const page = await send(() =>
        client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken })),
      );
      yield page.Contents ?? [];
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async function deleteKeys(keys: string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const Objects = keys.slice(start, start + DELETE_BATCH).map((Key) => ({ Key }));
      const answer = await send(() =>
        client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects, Quiet: true } })),
      );
      if ((answer.Errors ?? []).length > 0) throw unavailable();
    }
  }

  return {
    kind: 's3',
    client,
    bucket: Bucket,

    // The objects are written before the upload's transaction commits: if it rolls back,
    // they have no row and `sweepOrphans` removes them (the service also discards them).
    async put(_tx, attachmentId, chunks) {
      const pending = new Set<Promise<void>>();
      let failure: Error | undefined;
      let count = 0;
      const settle = async () => {
        await Promise.race(pending);
        if (failure !== undefined) throw failure;
      };
      try {
        for await (const chunk of chunks) {
          const write = send(() =>
            client.send(
              new PutObjectCommand({
                Bucket,
                Key: chunkKey(attachmentId, chunk.index),
                Body: chunk.data,
                ContentType: 'application/octet-stream',
              }),
            ),
          ).then(
            () => undefined,
            (error: unknown) => {
              failure ??= error instanceof Error ? error : unavailable();
            },
          );
          pending.add(write);
          void write.finally(() => pending.delete(write));
          count++;
          if (pending.size >= IN_FLIGHT) await settle();
        }
      } finally {
        await Promise.all(pending);
      }
      if (failure !== undefined) throw failure;
      return count;
    },

    async *get(attachmentId) {
      const controller = new AbortController();
      const window: Promise<Buffer | null>[] = [];
      let next = 0;
      const fetchNext = () => {
        const read = readChunk(attachmentId, next++, controller.signal);
        // Awaited below in order; this only keeps an abandoned read from going unhandled.
        read.catch(() => undefined);
        window.push(read);
      };
      try {
        for (let i = 0; i < IN_FLIGHT; i++) fetchNext();
        for (;;) {
          const chunk = await window.shift()!;
          if (chunk === null) return;
          fetchNext();
          yield chunk;
        }
      } finally {
        controller.abort();
      }
    },

    async discard(attachmentIds) {
      for (const id of attachmentIds) {
        const keys: string[] = [];
        for await (const page of listAll(`${S3_KEY_PREFIX}${id}/`)) {
          for (const object of page) if (object.Key) keys.push(object.Key);
        }
        await deleteKeys(keys);
      }
    },

    async sweepOrphans(db: Executor, before: Date, apply: boolean) {
      const orphans = new Set<string>();
      for await (const page of listAll(S3_KEY_PREFIX)) {
        // Group the page's keys by attachment; a row means the object is wanted.
        const byId = new Map<string, { keys: string[]; newest: number }>();
        for (const object of page) {
          const id = object.Key?.slice(S3_KEY_PREFIX.length).split('/')[0];
          if (!object.Key || !id) continue;
          const entry = byId.get(id) ?? { keys: [], newest: 0 };
          entry.keys.push(object.Key);
          entry.newest = Math.max(entry.newest, object.LastModified?.getTime() ?? Date.now());
          byId.set(id, entry);
        }
        const ids = [...byId.keys()].filter((id) => /^[0-9a-f-]{36}$/.test(id));
        const kept = new Set(
          ids.length === 0
            ? []
            : (
                await db
                  .select({ id: attachments.id })
                  .from(attachments)
                  .where(inArray(attachments.id, ids))
              ).map((row) => row.id),
        );
        const stale = ids.filter((id) => !kept.has(id) && byId.get(id)!.newest < before.getTime());
        for (const id of stale) orphans.add(id);
        if (apply) await deleteKeys(stale.flatMap((id) => byId.get(id)!.keys));
      }
      return orphans.size;
    },

    async close() {
      client.destroy();
      return Promise.resolve();
    },
  };
}
