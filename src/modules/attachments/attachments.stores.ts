import type { Config } from '../../config.js';
import type { Database } from '../../db/pool.js';
import { createS3Store } from './attachments.s3.js';
import { createPostgresStore, type AttachmentStore } from './attachments.store.js';

/**
 * The store ATTACHMENT_STORE names (API.md "Configuration"): built once by the app and shared
 * by uploads, downloads and erasure; the caller closes it.
 */
export function createAttachmentStore(
  config: Config['attachmentStore'],
  db: Database,
): AttachmentStore {
  return config.kind === 's3' ? createS3Store(config.s3) : createPostgresStore(db);
}

/**
 * Erasure's door to the store: removes erased attachments' content after the commit. The
 * erasure has happened by then (the key is gone, the content is noise), so a store that fails
 * here does not undo it: the failure is logged (a count, no ids of content) and
 * `purge-expired` sweeps what is left.
 */
export function erasedContentRemover(
  store: AttachmentStore,
  log: { warn(object: object, message: string): void },
): { discard(attachmentIds: readonly string[]): Promise<void> } {
  return {
    async discard(attachmentIds) {
      try {
        await store.discard(attachmentIds);
      } catch {
        log.warn(
          { attachments: attachmentIds.length, store: store.kind },
          'erased attachments left in the store; purge-expired --apply removes them',
        );
      }
    },
  };
}
