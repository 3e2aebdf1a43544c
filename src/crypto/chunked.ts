import { hkdfSync } from 'node:crypto';
import {
  associatedData,
  KEY_BYTES,
  NONCE_BYTES,
  openBytes,
  sealBytes,
  TAG_BYTES,
} from './envelope.js';
import { DecryptionFailed } from './errors.js';

/**
 * Chunked encryption of attachments (clinical photos, documents), pure: no store, no database.
 *
 * The content is cut into CHUNK_BYTES pieces of plaintext; each is sealed on its own with
 * AES-256-GCM (the envelope format of envelope.ts: version, random nonce, tag, ciphertext) and
 * its associated data binds it to the attachment id, its index and whether it is the last one:
 *
 *   associatedData('attachment-chunk', [attachmentId, index, final ? '1' : '0'])
 *
 * so a chunk moved to another attachment or position (reorder, swap), a stream cut after a
 * non-final chunk (truncation), anything after the final chunk (append) or a flipped bit fails
 * to open. An empty file is one final chunk of no bytes, so "no chunks at all" is an error too.
 *
 * The key is the client's data key narrowed with HKDF to this attachment (ClientCipher's
 * `attachmentKey`): the random 96-bit nonces then count against one attachment's key only,
 * and erasing the client's data key shreds every attachment with it.
 */
export const CHUNK_BYTES = 64 * 1024;
/** What a sealed chunk adds to its plaintext: version byte, nonce, tag. */
export const CHUNK_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

export interface SealedChunk {
  readonly index: number;
  readonly data: Buffer;
}

export function chunkAad(attachmentId: string, index: number, final: boolean): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError('bad chunk index');
  return associatedData('attachment-chunk', [attachmentId, String(index), final ? '1' : '0']);
}

/** A 32-byte key for one attachment, derived from the client's data key. */
export function deriveAttachmentKey(dataKey: Buffer, attachmentId: string): Buffer {
  if (dataKey.length !== KEY_BYTES) throw new Error('an AES-256 key must be 32 bytes');
  return Buffer.from(
    hkdfSync(
      'sha256',
      dataKey,
      Buffer.alloc(0),
      `attachment-content:v1:${attachmentId}`,
      KEY_BYTES,
    ),
  );
}

export function sealChunk(
  key: Buffer,
  attachmentId: string,
  index: number,
  final: boolean,
  plaintext: Buffer,
): Buffer {
  if (plaintext.length > CHUNK_BYTES) throw new RangeError('a chunk holds at most CHUNK_BYTES');
  return sealBytes(key, plaintext, chunkAad(attachmentId, index, final));
}

export function openChunk(
  key: Buffer,
  attachmentId: string,
  index: number,
  final: boolean,
  sealed: Uint8Array,
): Buffer {
  return openBytes(key, sealed, chunkAad(attachmentId, index, final));
}

/**
 * Cuts a byte stream into sealed chunks. One chunk of plaintext is held back until the next
 * byte arrives (or the source ends), so the last one can be sealed as final. Memory: at most
 * two chunks, whatever the size of the source.
 */
export async function* encryptChunks(
  source: AsyncIterable<Uint8Array>,
  key: Buffer,
  attachmentId: string,
): AsyncGenerator<SealedChunk> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let index = 0;
  let full: Buffer | undefined;
  for await (const piece of source) {
    let offset = 0;
    const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (offset < bytes.length) {
      const take = Math.min(CHUNK_BYTES - pendingBytes, bytes.length - offset);
      pending.push(bytes.subarray(offset, offset + take));
      pendingBytes += take;
      offset += take;
      if (pendingBytes === CHUNK_BYTES) {
        // A new full chunk: the one held back is now known not to be the last.
        if (full) yield { index, data: sealChunk(key, attachmentId, index++, false, full) };
        full = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0 || !full) {
    if (full) yield { index, data: sealChunk(key, attachmentId, index++, false, full) };
    yield {
      index,
      data: sealChunk(key, attachmentId, index, true, Buffer.concat(pending, pendingBytes)),
    };
  } else {
    yield { index, data: sealChunk(key, attachmentId, index, true, full) };
  }
}

/**
 * Opens sealed chunks in the order the store gives them. The i-th chunk must have been sealed
 * at index i, and exactly the last one as final: otherwise DecryptionFailed is thrown before
 * that chunk's plaintext (or anything after it) is yielded. What was yielded before stays
 * yielded: a caller streaming to the network must abort short of its Content-Length.
 */
export async function* decryptChunks(
  source: AsyncIterable<Uint8Array>,
  key: Buffer,
  attachmentId: string,
): AsyncGenerator<Buffer> {
  let index = 0;
  let held: Uint8Array | undefined;
  for await (const sealed of source) {
    if (held) yield openChunk(key, attachmentId, index++, false, held);
    held = sealed;
  }
  if (!held) throw new DecryptionFailed();
  yield openChunk(key, attachmentId, index, true, held);
}

/** The stored size of content of `plainBytes` bytes, and how many chunks it takes. */
export function chunkCount(plainBytes: number): number {
  return Math.max(1, Math.ceil(plainBytes / CHUNK_BYTES));
}
