import { asc, eq } from 'drizzle-orm';
import { decryptChunks, type ClientCipher } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { attachments } from '../../db/schema/attachments.js';
import { grantsPhotoScope } from './attachments.consent.js';
import { presentAttachment } from './attachments.present.js';
import type { Attachment } from './attachments.schemas.js';
import type { AttachmentStore } from './attachments.store.js';

/** File name extensions by content type (downloads and the export zip). */
export const EXTENSIONS: Record<Attachment['contentType'], string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/heic': 'heic',
  'application/pdf': 'pdf',
};

/** The file name an attachment's content goes by: its id and the extension of its type. */
export function fileNameOf(attachment: Pick<Attachment, 'id' | 'contentType'>): string {
  return `${attachment.id}.${EXTENSIONS[attachment.contentType]}`;
}

/**
 * For the data-subject export (API.md "Clients"): every attachment of the client, of every
 * kind, oldest first, with the metadata the attachments read returns.
 */
export async function attachmentsForExport(
  executor: Executor,
  clientId: string,
  cipher: ClientCipher,
  now: Date,
): Promise<Attachment[]> {
  const rows = await executor
    .select()
    .from(attachments)
    .where(eq(attachments.clientId, clientId))
    .orderBy(asc(attachments.id));
  if (rows.length === 0) return [];
  const marketing = await grantsPhotoScope(executor, clientId, 'marketing', now);
  return rows.map((row) => presentAttachment(cipher, row, marketing));
}

/**
 * An attachment's content, decrypted chunk by chunk as it is read (nothing is fetched before
 * the first read); a chunk that fails its check ends it with DecryptionFailed.
 */
export function attachmentContent(
  store: AttachmentStore,
  cipher: ClientCipher,
  attachmentId: string,
): AsyncGenerator<Buffer> {
  return decryptChunks(store.get(attachmentId), cipher.attachmentKey(attachmentId), attachmentId);
}
