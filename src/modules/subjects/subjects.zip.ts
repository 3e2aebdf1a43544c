import { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { fileNameOf } from '../attachments/attachments.export.js';
import type { Attachment } from '../attachments/attachments.schemas.js';
import type { SubjectExport } from './subjects.schemas.js';

/** One attachment of a zip export: its metadata and a way to read its content when due. */
export interface ZipFileEntry {
  attachment: Attachment;
  content: () => AsyncIterable<Buffer>;
}

/**
 * The data-subject export as a ZIP (yazl), streamed in constant memory: `export.json`, then
 * each attachment under `attachments/<id>.<ext>`, one at a time, each opened only when its
 * turn comes. Nothing is compressed (photos and PDFs are compressed already), so every size
 * is known in advance and `size` is the archive's exact length: the caller sends it as
 * Content-Length. A content that fails (a tampered chunk) destroys the stream with its error:
 * the response is cut short, before the central directory, so it never passes for a whole
 * archive; `failed` is told which attachment it was.
 */
export function zipExport(
  document: SubjectExport,
  files: readonly ZipFileEntry[],
  failed: (attachmentId: string, error: unknown) => void,
): { stream: Readable; size: number } {
  const zip = new ZipFile();
  // A PassThrough at run time; @types/yazl types it as the wider NodeJS.ReadableStream.
  const output = zip.outputStream as Readable;
  zip.addBuffer(Buffer.from(JSON.stringify(document, null, 2)), 'export.json', {
    mtime: new Date(document.exportedAt),
    compress: false,
  });
  for (const { attachment, content } of files) {
    zip.addReadStreamLazy(
      `attachments/${fileNameOf(attachment)}`,
      { size: attachment.size, compress: false, mtime: new Date(attachment.createdAt) },
      (ready) => {
        const stream = Readable.from(content());
        // yazl pipes the stream, and a pipe does not pass errors on: end the archive here.
        stream.once('error', (error) => {
          failed(attachment.id, error);
          output.destroy(error);
        });
        ready(null, stream);
      },
    );
  }
  let size = -1;
  // Called at once (every size is known); @types/yazl omits its argument.
  const measured = (total: number) => {
    size = total;
  };
  zip.end({ forceZip64Format: false, comment: '' }, measured as unknown as () => void);
  return { stream: output, size };
}
