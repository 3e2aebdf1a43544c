import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { CHUNK_BYTES } from '../../src/crypto/index.js';
import { createLogger } from '../../src/logger.js';
import { createS3Store } from '../../src/modules/attachments/attachments.s3.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import type { TestDatabase } from '../helpers/db.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';
import { tsxArgs } from '../helpers/process.js';
import { upload } from './multipart.js';

/**
 * The same behaviour through both attachment stores (ATTACHMENT_STORE=postgres and s3, the
 * latter against a real S3-protocol server, s3rver, through the real AWS SDK): upload,
 * download, tampering, no plaintext anywhere in the store, erasure leaves nothing behind.
 */

const MAX = 600_000;
const KEY_SHAPE =
  /^attachments\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/\d{8}$/;

/** A PDF the sniffer recognises, with a marker in it, `size` bytes long. */
function pdf(size: number, marker: string): Buffer {
  const head = Buffer.from(`%PDF-1.7\n% ${marker}\n`);
  const body = Buffer.alloc(Math.max(0, size - head.length - 6));
  // Repeated plaintext, so a store that kept any chunk in clear would show the marker.
  for (let at = 0; at + marker.length <= body.length; at += 4096) body.write(marker, at);
  return Buffer.concat([head, body, Buffer.from('%%EOF\n')]);
}

/** What a test needs to see of a store: its chunks, and every byte it holds. */
interface Backend {
  chunks(id: string): Promise<Buffer[]>;
  /** Replaces an attachment's stored chunks (undefined: leave that index out). */
  replace(id: string, chunks: Array<Buffer | undefined>): Promise<void>;
  /** Every blob the store holds, for any attachment. */
  everything(): Promise<Buffer[]>;
}

function postgresBackend(db: TestDatabase): Backend {
  return {
    async chunks(id) {
      const { rows } = await db.pool.query<{ data: Buffer }>(
        'SELECT data FROM attachment_chunks WHERE attachment_id = $1 ORDER BY idx',
        [id],
      );
      return rows.map((row) => row.data);
    },
    async replace(id, chunks) {
      await db.pool.query('DELETE FROM attachment_chunks WHERE attachment_id = $1', [id]);
      for (const [idx, data] of chunks.entries()) {
        if (data)
          await db.pool.query(
            'INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, $2, $3)',
            [id, idx, data],
          );
      }
    },
    async everything() {
      const { rows } = await db.pool.query<{ data: Buffer }>('SELECT data FROM attachment_chunks');
      return rows.map((row) => row.data);
    },
  };
}

function s3Backend(s3: LocalS3): Backend {
  const key = (id: string, index: number) => `attachments/${id}/${String(index).padStart(8, '0')}`;
  return {
    async chunks(id) {
      const keys = await s3.keys(`attachments/${id}/`);
      return Promise.all(keys.map((k) => s3.read(k)));
    },
    async replace(id, chunks) {
      for (const k of await s3.keys(`attachments/${id}/`)) await s3.remove(k);
      for (const [index, data] of chunks.entries()) if (data) await s3.write(key(id, index), data);
    },
    async everything() {
      return Promise.all((await s3.keys()).map((k) => s3.read(k)));
    },
  };
}

async function setUp(t: Test, kind: 'postgres' | 's3') {
  const s3 = kind === 's3' ? await startLocalS3(t) : undefined;
  // Every log line, at the most verbose level, for the canary.
  const logLines: string[] = [];
  const logger = createLogger('trace', { write: (line: string) => void logLines.push(line) });
  const { app, db, config } = await buildTestApp(t, {
    env: { ATTACHMENT_MAX_BYTES: String(MAX), ...s3?.env },
    build: { logger },
  });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const client = await makeClient(app, { clinicId: clinic, headers: practitioner.headers });
  const backend = s3 ? s3Backend(s3) : postgresBackend(db);
  const base = (clientId: string) => `/v1/clients/${clientId}/attachments`;
  const post = (clientId: string, metadata: Record<string, unknown>, content: Buffer) => {
    const body = upload(metadata, content, 'application/pdf');
    return app.inject({
      method: 'POST',
      url: base(clientId),
      headers: { ...practitioner.headers, ...body.headers },
      payload: body.payload,
    });
  };
  return {
    app,
    db,
    config,
    s3,
    admin,
    practitioner,
    clinic,
    client,
    backend,
    base,
    post,
    logLines,
  };
}

for (const kind of ['postgres', 's3'] as const) {
  t.test(`${kind} store: upload, download, tamper, canary, erasure`, async (t) => {
    const { app, db, s3, admin, practitioner, client, backend, base, post, logLines } = await setUp(
      t,
      kind,
    );
    const marker = `KANARIE-${kind}-Store-Rr55`;
    const bytes = pdf(4 * CHUNK_BYTES + 99, marker);
    const created = await post(client.id, { kind: 'document' }, bytes);
    t.equal(created.statusCode, 201, created.body);
    const { id, size } = created.json<{ id: string; size: number }>();
    t.equal(size, bytes.length);
    const url = `${base(client.id)}/${id}/content`;

    await t.test('stored as five sealed chunks; downloaded byte for byte', async (t) => {
      const chunks = await backend.chunks(id);
      t.equal(chunks.length, 5);
      if (s3) {
        const keys = await s3.keys();
        t.equal(keys.length, 5);
        t.ok(
          keys.every((k) => KEY_SHAPE.test(k) && k.includes(id)),
          'object keys hold the attachment id and the chunk index, nothing else',
        );
      }
      const back = await app.inject({ url, headers: practitioner.headers });
      t.equal(back.statusCode, 200);
      t.equal(back.headers['content-length'], String(bytes.length));
      t.ok(back.rawPayload.equals(bytes), 'the same bytes');
    });

    await t.test('canary: neither content nor its hash in clear in the store', async (t) => {
      const hash = createHash('sha256').update(bytes).digest('hex');
      const blobs = await backend.everything();
      t.ok(blobs.length >= 5);
      t.notOk(
        blobs.some((blob) => blob.includes(marker) || blob.includes(hash) || blob.includes('%PDF')),
        'no stored blob holds the marker, the PDF header or the sha256',
      );
      t.ok(logLines.length > 0, 'the service logged');
      t.notOk(
        logLines.some((line) => line.includes(marker) || line.includes(hash)),
        'no log line holds them either',
      );
    });

    await t.test('tampered chunks fail the download', async (t) => {
      const original = await backend.chunks(id);
      const flipped = (data: Buffer) => {
        const copy = Buffer.from(data);
        copy[100]! ^= 1;
        return copy;
      };
      await backend.replace(id, [flipped(original[0]!), ...original.slice(1)]);
      const first = await app.inject({ url, headers: practitioner.headers });
      t.equal(first.statusCode, 500, 'first chunk: a problem answer');
      t.match(first.headers['content-type'], /application\/problem\+json/);

      if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      const fetchRaw = () =>
        new Promise<{ status: number; length: number; received: number; complete: boolean }>(
          (resolve) => {
            const req = http.get(
              { host: '127.0.0.1', port, path: url, headers: practitioner.headers },
              (response) => {
                let received = 0;
                response.on('data', (piece: Buffer) => (received += piece.length));
                const done = () =>
                  resolve({
                    status: response.statusCode!,
                    length: Number(response.headers['content-length']),
                    received,
                    complete: response.complete,
                  });
                response.on('end', done);
                response.on('aborted', done);
                response.on('error', done);
              },
            );
            req.on('error', () => undefined);
          },
        );
      for (const [what, chunks] of [
        ['swapped', [original[0], original[2], original[1], original[3], original[4]]],
        ['truncated', original.slice(0, 4)],
        ['a middle chunk missing', [original[0], original[1], undefined, original[3], original[4]]],
        [
          'bit flipped later',
          [original[0], original[1], flipped(original[2]!), ...original.slice(3)],
        ],
        ['appended', [...original, original[4]]],
        // The S3 store refuses an object larger than a sealed chunk before reading it.
        [
          'a chunk replaced by a large blob',
          [...original.slice(0, 3), randomBytes(3 * CHUNK_BYTES), original[4]],
        ],
      ] as const) {
        await backend.replace(id, [...chunks]);
        const got = await fetchRaw();
        t.equal(got.status, 200, `${what}: headers were sent`);
        t.ok(
          got.received < got.length && !got.complete,
          `${what}: aborted short of Content-Length (${got.received}/${got.length})`,
        );
      }
      await backend.replace(id, original);
      const whole = await fetchRaw();
      t.ok(whole.complete && whole.received === bytes.length, 'untouched again: whole');
      const failures = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events
          WHERE action = 'attachment.download' AND outcome = 'failure' AND resource_id = $1`,
        [id],
      );
      t.equal(failures.rows[0]!.n, 7, 'every failed download audited');
    });

    await t.test('an upload that is refused after streaming leaves nothing stored', async (t) => {
      const before = (await backend.everything()).length;
      const refused = await post(
        client.id,
        { kind: 'document', entryId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' },
        pdf(2 * CHUNK_BYTES, marker),
      );
      t.equal(refused.statusCode, 400, refused.body);
      t.equal((await backend.everything()).length, before, 'no chunk of it stayed');
    });

    await t.test("erasure removes every chunk of the client's attachments", async (t) => {
      t.equal((await post(client.id, { kind: 'document' }, pdf(1000, marker))).statusCode, 201);
      const erased = await app.inject({
        method: 'DELETE',
        url: `/v1/clients/${client.id}`,
        headers: admin.headers,
        payload: { reason: 'client asked' },
      });
      t.equal(erased.statusCode, 204, erased.body);
      t.same(await backend.everything(), [], 'the store is empty');
      if (s3) t.same(await s3.keys(), [], 'listing the bucket finds nothing');
      const rows = await db.pool.query('SELECT 1 FROM attachments WHERE client_id = $1', [
        client.id,
      ]);
      t.equal(rows.rowCount, 0);
    });
  });
}

t.test('s3 store: orphans are swept, young ones and wanted ones kept', async (t) => {
  const { app, db, s3, config, client, post } = await setUp(t, 's3');
  const wanted = await post(client.id, { kind: 'document' }, pdf(3000, 'KANARIE-Kept-Tt1'));
  t.equal(wanted.statusCode, 201);
  const orphan = `attachments/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/00000000`;
  await s3!.write(orphan, randomBytes(100));
  await s3!.write('elsewhere/not-ours', randomBytes(10));
  if (config.attachmentStore.kind !== 's3') throw new Error('not the s3 store');
  const store = createS3Store(config.attachmentStore.s3);
  t.teardown(() => store.close());
  const later = new Date(Date.now() + 60_000);
  t.equal(await store.sweepOrphans(app.db, new Date(Date.now() - 60_000), true), 0, 'too young');
  t.equal(await store.sweepOrphans(app.db, later, false), 1, 'dry run counts the orphan');
  t.ok((await s3!.keys()).includes(orphan), 'and leaves it');
  t.equal(await store.sweepOrphans(app.db, later, true), 1);
  const left = await s3!.keys();
  t.notOk(left.includes(orphan), 'the orphan is gone');
  t.ok(left.includes('elsewhere/not-ours'), 'keys outside attachments/ are not ours');
  const { id } = wanted.json<{ id: string }>();
  t.equal(left.filter((k) => k.includes(id)).length, 1, 'a wanted attachment is kept');

  // The operator command uses the configured store: a fresh orphan is within the hour's grace.
  await s3!.write(orphan, randomBytes(100));
  // Not spawnSync: s3rver runs in this process and must answer the command.
  const cli = await promisify(execFile)(
    process.execPath,
    [...tsxArgs('src/cli.ts'), 'purge-expired'],
    {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: db.url,
        MASTER_KEY: config.masterKey.toString('base64'),
        JWT_SECRET: randomBytes(40).toString('base64url'),
        ...s3!.env,
      },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  t.match(cli.stdout, '0 orphaned attachment(s) in the s3 store');
  t.ok((await s3!.keys()).includes(orphan), 'young: kept');
});

t.test(
  's3 store unreachable: uploads and downloads answer 503, erasure still erases',
  async (t) => {
    const { app, db, s3, admin, practitioner, client, base, post, logLines } = await setUp(t, 's3');
    const stored = await post(client.id, { kind: 'document' }, pdf(3000, 'KANARIE-Down-Yy2'));
    t.equal(stored.statusCode, 201);
    const { id } = stored.json<{ id: string }>();
    await s3!.stop();
    const refused = await post(client.id, { kind: 'document' }, pdf(3000, 'KANARIE-Down-Yy2'));
    t.equal(refused.statusCode, 503, refused.body);
    t.ok(refused.headers['retry-after'], 'with Retry-After');
    t.notMatch(refused.body, /127\.0\.0\.1|ECONNREFUSED|stack/, 'no store details leak');
    const rows = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM attachments WHERE client_id = $1',
      [client.id],
    );
    t.equal(rows.rows[0]!.n, 1, 'no row for the refused upload');
    const download = await app.inject({
      url: `${base(client.id)}/${id}/content`,
      headers: practitioner.headers,
    });
    t.equal(download.statusCode, 503, download.body);
    const erased = await app.inject({
      method: 'DELETE',
      url: `/v1/clients/${client.id}`,
      headers: admin.headers,
      payload: { reason: 'client asked' },
    });
    t.equal(erased.statusCode, 204, 'the key is gone; the objects left are noise for the sweep');
    const after = await db.pool.query('SELECT 1 FROM attachments WHERE client_id = $1', [
      client.id,
    ]);
    t.equal(after.rowCount, 0);
    const warning = logLines.find((line) => line.includes('erased attachments left in the store'));
    t.ok(warning, 'the leftover objects are logged for the sweep');
    t.notMatch(warning ?? '', /S3RVER|127\.0\.0\.1/, 'with no credentials or endpoint');
    t.notOk(
      logLines.some((line) => line.includes('KANARIE-Down-Yy2')),
      'no content in any log line',
    );
  },
);
