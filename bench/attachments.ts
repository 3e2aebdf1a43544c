/**
 * The attachment scenario of `npm run bench` (issue #19): a 20 MiB file uploaded to and
 * downloaded from the service, started the way users start it (the configured store, the
 * default PostgreSQL one unless ATTACHMENT_STORE says otherwise), on a freshly started process.
 *
 *   - RSS growth: the service's peak RSS during the upload and the downloads, minus its RSS
 *     before (target < 64 MiB: uploads and downloads stream in constant memory);
 *   - download throughput: the service's decrypting download (auth, audit, AES-GCM per 64 KiB
 *     chunk) against the bare server streaming the same sealed chunks out of the same store
 *     without decrypting them (bench/server.ts, `/bench/attachments/:id/sealed`), both over
 *     HTTP; the median of a few alternating rounds (target ≥ 0.5).
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

export const ATTACHMENT_MIB = 20;
const ROUNDS = 5;
const MIB = 1024 * 1024;

interface Peaks {
  resetPeak(): Promise<number>;
  peak(): Promise<number>;
}

export interface AttachmentResult {
  uploadStatus: number;
  uploadSeconds: number;
  bytes: number;
  /** MiB/s, the median round. */
  downloadMiBps: number;
  sealedMiBps: number;
  ratio: number;
  idleRssMb: number;
  peakRssMb: number;
  rssGrowthMb: number;
  /** The peak growth by the end of the upload alone. */
  uploadRssGrowthMb: number;
  complete: boolean;
  /** A noise PNG of about the same size, uploaded after (its metadata stripped as it streams). */
  image: { status: number; bytes: number; seconds: number; rssGrowthMb: number };
}

/** A PNG of noise (it does not compress) just under `size` bytes, with an EXIF to strip. */
async function png(size: number): Promise<Buffer> {
  const side = Math.floor(Math.sqrt((size * 0.95) / 3 / 1.05));
  return sharp({
    create: {
      width: side,
      height: side,
      channels: 3,
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
      background: '#808080',
    },
  })
    .withExif({ IFD0: { ImageDescription: 'bench' } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** A PDF the service accepts (the type is sniffed from the bytes), `size` bytes long. */
function pdf(size: number): Buffer {
  const head = Buffer.from('%PDF-1.7\n% bench attachment\n');
  const tail = Buffer.from('\n%%EOF\n');
  return Buffer.concat([head, randomBytes(size - head.length - tail.length), tail]);
}

function multipart(content: Buffer, name = 'scan.pdf'): { body: Buffer; type: string } {
  const boundary = `----bench${randomBytes(8).toString('hex')}`;
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n` +
        `${JSON.stringify({ kind: 'document' })}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

/** Streams a response body to nowhere; bytes and seconds. */
async function drain(url: string, headers: Record<string, string>) {
  const started = performance.now();
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
  }
  return { bytes, seconds: (performance.now() - started) / 1000 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

export async function attachmentScenario(options: {
  servicePort: number;
  barePort: number;
  service: Peaks;
  token: string;
  clientId: string;
  /** The file's size (default ATTACHMENT_MIB; another size shows growth does not follow it). */
  mib?: number;
}): Promise<AttachmentResult> {
  const { servicePort, barePort, token, clientId } = options;
  const auth = { authorization: `Bearer ${token}` };
  const content = pdf((options.mib ?? ATTACHMENT_MIB) * MIB);
  const upload = (bytes: Buffer, name?: string) => {
    const { body, type } = multipart(bytes, name);
    return fetch(`http://127.0.0.1:${servicePort}/v1/clients/${clientId}/attachments`, {
      method: 'POST',
      headers: { ...auth, 'content-type': type },
      body,
    });
  };

  // A warm-up of 1 MiB first, both ways: what is measured is what a transfer costs a running
  // service, not the first use of the multipart parser, the store's statements and the JIT.
  const warm = (await (await upload(pdf(MIB))).json()) as { id: string };
  await drain(
    `http://127.0.0.1:${servicePort}/v1/clients/${clientId}/attachments/${warm.id}/content`,
    auth,
  );
  // A ~20 MiB image (streamed through the JPEG/PNG metadata stripper), measured on its own,
  // first: before the downloads have grown the heap that later uploads would reuse.
  const picture = await png((options.mib ?? ATTACHMENT_MIB) * MIB);
  if ((await upload(await png(MIB), 'warm.png')).status !== 201) throw new Error('warm-up PNG');
  const imageIdle = await options.service.resetPeak();
  const imageStarted = performance.now();
  const imageStatus = (await upload(picture, 'photo.png')).status;
  const image = {
    status: imageStatus,
    bytes: picture.length,
    seconds: (performance.now() - imageStarted) / 1000,
    rssGrowthMb: Math.round(((await options.service.peak()) - imageIdle) / MIB),
  };
  const idle = await options.service.resetPeak();
  const started = performance.now();
  const uploaded = await upload(content);
  const uploadSeconds = (performance.now() - started) / 1000;
  const answer = (await uploaded.json()) as { id?: string; size?: number };
  if (uploaded.status !== 201 || !answer.id) {
    throw new Error(`upload: ${uploaded.status} ${JSON.stringify(answer)}`);
  }
  const id = answer.id;
  const afterUpload = await options.service.peak();

  const service: number[] = [];
  const sealed: number[] = [];
  let complete = true;
  for (let round = 0; round < ROUNDS; round++) {
    const down = await drain(
      `http://127.0.0.1:${servicePort}/v1/clients/${clientId}/attachments/${id}/content`,
      auth,
    );
    complete &&= down.bytes === content.length;
    service.push(down.bytes / MIB / down.seconds);
    const raw = await drain(`http://127.0.0.1:${barePort}/bench/attachments/${id}/sealed`, {});
    sealed.push(raw.bytes / MIB / raw.seconds);
  }
  const peak = await options.service.peak();

  const downloadMiBps = median(service);
  const sealedMiBps = median(sealed);
  return {
    uploadStatus: uploaded.status,
    uploadSeconds,
    bytes: content.length,
    downloadMiBps: Math.round(downloadMiBps),
    sealedMiBps: Math.round(sealedMiBps),
    ratio: downloadMiBps / Math.max(1e-9, sealedMiBps),
    idleRssMb: Math.round(idle / MIB),
    peakRssMb: Math.round(peak / MIB),
    rssGrowthMb: Math.round((peak - idle) / MIB),
    uploadRssGrowthMb: Math.round((afterUpload - idle) / MIB),
    complete,
    image,
  };
}

/** The table rows of the scenario. */
export function attachmentRows(result: AttachmentResult) {
  const growthMet = result.rssGrowthMb < 64;
  const ratioMet = result.ratio >= 0.5;
  return [
    {
      scenario: `attachment ${result.bytes / MIB} MiB: upload + 5 downloads, RSS`,
      'req/s': `upload ${result.uploadSeconds.toFixed(2)} s`,
      'p50 ms': '',
      'p99 ms': '',
      'bare req/s': '',
      'bare p50/p99': '',
      ratio: '',
      'non2xx/err/timeout': result.uploadStatus === 201 && result.complete ? '0/0/0' : 'failed',
      target: `RSS growth ${result.rssGrowthMb} MB (${result.idleRssMb} → ${result.peakRssMb}; upload alone ${result.uploadRssGrowthMb}) < 64 ${growthMet ? 'MET' : 'NOT MET'}`,
    },
    {
      scenario: `attachment ${result.bytes / MIB} MiB download (decrypting)`,
      'req/s': `${result.downloadMiBps} MiB/s`,
      'p50 ms': '',
      'p99 ms': '',
      'bare req/s': `${result.sealedMiBps} MiB/s (sealed, same store)`,
      'bare p50/p99': '',
      ratio: result.ratio.toFixed(2),
      'non2xx/err/timeout': result.complete ? '0/0/0' : 'incomplete',
      target: `≥ 0.5 of sealed ${ratioMet ? 'MET' : 'NOT MET'}`,
    },
    {
      scenario: `attachment ${(result.image.bytes / MIB).toFixed(1)} MiB PNG upload (stripped), RSS`,
      'req/s': `upload ${result.image.seconds.toFixed(2)} s`,
      'p50 ms': '',
      'p99 ms': '',
      'bare req/s': '',
      'bare p50/p99': '',
      ratio: '',
      'non2xx/err/timeout': result.image.status === 201 ? '0/0/0' : 'failed',
      target: `RSS growth ${result.image.rssGrowthMb} MB < 64 ${result.image.rssGrowthMb < 64 ? 'MET' : 'NOT MET'}`,
    },
  ];
}
