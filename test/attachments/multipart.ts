import { randomBytes } from 'node:crypto';

/** A multipart/form-data body written by hand: the parts in the order given. */
export function multipartBody(
  parts: Array<
    | { name: string; value: string }
    | { name: string; filename: string; contentType: string; content: Buffer }
  >,
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----test${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if ('content' in part) {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: ${part.contentType}\r\n\r\n`,
        ),
        part.content,
        Buffer.from('\r\n'),
      );
    } else {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`,
        ),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

export function upload(
  metadata: Record<string, unknown> | string,
  content: Buffer,
  contentType = 'application/octet-stream',
) {
  return multipartBody([
    { name: 'metadata', value: typeof metadata === 'string' ? metadata : JSON.stringify(metadata) },
    { name: 'file', filename: 'upload.bin', contentType, content },
  ]);
}
