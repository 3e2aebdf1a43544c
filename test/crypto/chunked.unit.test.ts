import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import {
  CHUNK_BYTES,
  CHUNK_OVERHEAD,
  decryptChunks,
  deriveAttachmentKey,
  encryptChunks,
  sealChunk,
  type SealedChunk,
} from '../../src/crypto/chunked.js';
import { DecryptionFailed } from '../../src/crypto/index.js';

const dataKey = randomBytes(32);
const ID = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const OTHER_ID = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';
const key = deriveAttachmentKey(dataKey, ID);

async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function seal(bytes: Buffer, pieceSize = 10_000, id = ID): Promise<SealedChunk[]> {
  const out: SealedChunk[] = [];
  for await (const chunk of encryptChunks(
    pieces(bytes, pieceSize),
    deriveAttachmentKey(dataKey, id),
    id,
  )) {
    out.push(chunk);
  }
  return out;
}

async function* list(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

async function open(chunks: readonly Uint8Array[], k = key, id = ID): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of decryptChunks(list(chunks), k, id)) parts.push(p);
  return Buffer.concat(parts);
}

const content = randomBytes(3 * CHUNK_BYTES + 1234);

t.test('round trip across sizes, in 64 KiB chunks indexed from 0', async (t) => {
  for (const size of [
    0,
    1,
    CHUNK_BYTES - 1,
    CHUNK_BYTES,
    CHUNK_BYTES + 1,
    2 * CHUNK_BYTES,
    content.length,
  ]) {
    const bytes = content.subarray(0, size);
    const sealed = await seal(bytes, 7_777);
    t.same(
      sealed.map((c) => c.index),
      [...Array(Math.max(1, Math.ceil(size / CHUNK_BYTES))).keys()],
      `${size} bytes: indexes`,
    );
    t.equal(
      sealed.reduce((n, c) => n + c.data.length, 0),
      size + sealed.length * CHUNK_OVERHEAD,
      'each chunk adds only its header',
    );
    t.ok((await open(sealed.map((c) => c.data))).equals(bytes), `${size} bytes open again`);
  }
});

t.test('no plaintext in the sealed chunks', async (t) => {
  const marker = Buffer.from('CANARY-MARKER-1234567890');
  const bytes = Buffer.concat([marker, content, marker]);
  const sealed = Buffer.concat((await seal(bytes)).map((c) => c.data));
  t.equal(sealed.indexOf(marker), -1);
});

async function rejects(t: Test, chunks: readonly Uint8Array[], what: string, k = key, id = ID) {
  await t.rejects(open(chunks, k, id), DecryptionFailed, what);
}

t.test('tampering fails', async (t) => {
  const sealed = (await seal(content)).map((c) => c.data);
  t.equal(sealed.length, 4);
  await rejects(t, [sealed[1]!, sealed[0]!, sealed[2]!, sealed[3]!], 'reordered');
  await rejects(t, [sealed[0]!, sealed[2]!, sealed[1]!, sealed[3]!], 'two swapped');
  await rejects(t, sealed.slice(0, 3), 'truncated after a whole chunk');
  await rejects(t, sealed.slice(1), 'first chunk dropped');
  await rejects(t, [], 'no chunks at all');
  await rejects(t, [...sealed, sealed[3]!], 'final chunk appended again');
  const extra = sealChunk(key, ID, 4, true, Buffer.from('more'));
  await rejects(t, [...sealed, extra], 'a well-formed final chunk appended');
  await rejects(
    t,
    [sealed[0]!, sealed[0]!, sealed[2]!, sealed[3]!],
    'a chunk duplicated in place of another',
  );
  for (const [i, at] of [
    [0, 0],
    [0, 5],
    [2, 100],
    [3, sealed[3]!.length - 1],
  ] as const) {
    const flipped = sealed.map((c) => Buffer.from(c));
    flipped[i]![at]! ^= 0x01;
    await rejects(t, flipped, `a bit flipped in chunk ${i} at byte ${at}`);
  }
  const cut = sealed.map((c) => Buffer.from(c));
  cut[3] = cut[3]!.subarray(0, cut[3]!.length - 1);
  await rejects(t, cut, 'last chunk shortened by one byte');
  const other = (await seal(content, 10_000, OTHER_ID)).map((c) => c.data);
  await rejects(
    t,
    [sealed[0]!, other[1]!, sealed[2]!, sealed[3]!],
    'a chunk of another attachment',
  );
  await rejects(
    t,
    sealed,
    'opened under another attachment id',
    deriveAttachmentKey(dataKey, OTHER_ID),
    OTHER_ID,
  );
  await rejects(
    t,
    sealed,
    'opened under another data key',
    deriveAttachmentKey(randomBytes(32), ID),
  );
});

t.test('a failing chunk yields nothing of itself or after it', async (t) => {
  const sealed = (await seal(content)).map((c) => Buffer.from(c.data));
  sealed[2]![40]! ^= 0x80;
  const got: Buffer[] = [];
  await t.rejects(
    (async () => {
      for await (const p of decryptChunks(list(sealed), key, ID)) got.push(p);
    })(),
    DecryptionFailed,
  );
  t.equal(got.length, 2, 'only the two good chunks before it');
  t.ok(Buffer.concat(got).equals(content.subarray(0, 2 * CHUNK_BYTES)));
});

t.test('per-attachment keys differ and depend on the data key', async (t) => {
  t.notOk(deriveAttachmentKey(dataKey, ID).equals(deriveAttachmentKey(dataKey, OTHER_ID)));
  t.ok(deriveAttachmentKey(dataKey, ID).equals(key), 'deterministic');
  t.throws(() => deriveAttachmentKey(randomBytes(16), ID));
  t.throws(() => sealChunk(key, ID, 0, true, Buffer.alloc(CHUNK_BYTES + 1)));
});
