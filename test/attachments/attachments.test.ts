import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import t from 'tap';
import { CHUNK_BYTES } from '../../src/crypto/index.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';
import { upload } from './multipart.js';

type Json = Record<string, unknown>;
const MAX = 300_000;

async function jpeg(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .jpeg()
    .toBuffer();
}

/** A PDF the sniffer recognises, with a marker in it, `size` bytes long. */
function pdf(size: number, marker = 'KANARIE-PDF-Zx19'): Buffer {
  const head = Buffer.from(`%PDF-1.7\n% ${marker}\n`);
  return Buffer.concat([
    head,
    randomBytes(Math.max(0, size - head.length - 6)),
    Buffer.from('%%EOF\n'),
  ]);
}

t.test('attachments: upload, list, read, download, tamper, roles, scope', async (t) => {
  const { app, db } = await buildTestApp(t, { env: { ATTACHMENT_MAX_BYTES: String(MAX) } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [] });
  const outsider = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [await createClinic(app)],
  });
  const client = await makeClient(app, { clinicId: clinic, headers: reception.headers });
  const template = await publishTemplate(app, admin.headers, {
    key: 'filler',
    treatmentTypes: ['filler'],
    photoScopes: ['clinical', 'marketing'],
  });
  // Photos need a consent granting the clinical photo scope (photo-consent.test.ts).
  const consent = await signConsent(app, {
    clientId: client.id,
    templateId: template.id,
    headers: reception.headers,
    photoScopes: ['clinical'],
  });
  const base = `/v1/clients/${client.id}/attachments`;
  const post = (
    as: { authorization: string },
    metadata: Json | string,
    content: Buffer,
    declared?: string,
  ) => {
    const body = upload(metadata, content, declared);
    return app.inject({
      method: 'POST',
      url: base,
      headers: { ...as, ...body.headers },
      payload: body.payload,
    });
  };

  const photoBytes = await jpeg(64, 48);
  const photo = await post(
    practitioner.headers,
    { kind: 'photo', caption: 'Før behandling' },
    photoBytes,
  );
  t.equal(photo.statusCode, 201, photo.body);
  const created = photo.json<Json & { id: string; size: number; sha256: string }>();
  t.match(created, {
    clientId: client.id,
    kind: 'photo',
    contentType: 'image/jpeg',
    width: 64,
    height: 48,
    entryId: null,
    consentId: null,
    caption: 'Før behandling',
    createdBy: practitioner.id,
    marketingAllowed: false,
  });
  t.ok(created.size > 0);

  await t.test('the type comes from the bytes, not the declared one', async (t) => {
    const res = await post(practitioner.headers, { kind: 'document' }, pdf(5000), 'image/jpeg');
    t.equal(res.statusCode, 201, res.body);
    t.equal(res.json<Json>().contentType, 'application/pdf');
    const text = await post(
      practitioner.headers,
      { kind: 'document' },
      Buffer.from('hello, plain text'),
      'application/pdf',
    );
    t.equal(text.statusCode, 415, text.body);
    t.match(text.headers['content-type'], /application\/problem\+json/);
    const gif = Buffer.from(
      'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==',
      'base64',
    );
    t.equal(
      (await post(practitioner.headers, { kind: 'photo' }, gif, 'image/jpeg')).statusCode,
      415,
      'GIF',
    );
  });

  await t.test('size: 413 over ATTACHMENT_MAX_BYTES, the limit itself is fine', async (t) => {
    t.equal((await post(practitioner.headers, { kind: 'document' }, pdf(MAX))).statusCode, 201);
    const over = await post(practitioner.headers, { kind: 'document' }, pdf(MAX + 1));
    t.equal(over.statusCode, 413, over.body);
    t.equal(over.json<Json>().status, 413);
    const huge = await post(practitioner.headers, { kind: 'document' }, pdf(3 * MAX));
    t.equal(huge.statusCode, 413);
    t.equal(
      (
        await post(
          practitioner.headers,
          { kind: 'document' },
          Buffer.concat([Buffer.from('text'), randomBytes(MAX * 2)]),
        )
      ).statusCode,
      415,
      'type before size',
    );
    const big = await jpeg(20_000, 10);
    t.equal(
      (await post(practitioner.headers, { kind: 'photo' }, big)).statusCode,
      413,
      'too many pixels a side',
    );
  });

  await t.test('metadata: validated, first, strict', async (t) => {
    for (const metadata of [
      '{not json',
      { kind: 'selfie' },
      { kind: 'photo', clientId: client.id },
      { kind: 'consent-scan' },
      { kind: 'photo', caption: 'a\u0000b' },
      { kind: 'photo', takenAt: '1800-01-01T00:00:00Z' },
    ]) {
      const res = await post(practitioner.headers, metadata, photoBytes);
      t.equal(res.statusCode, 400, `${JSON.stringify(metadata)}: ${res.body}`);
    }
    const unknownEntry = await post(
      practitioner.headers,
      { kind: 'photo', entryId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' },
      photoBytes,
    );
    t.equal(unknownEntry.statusCode, 400);
    t.match(unknownEntry.json(), { errors: [{ path: 'metadata.entryId' }] });
    const json = await app.inject({
      method: 'POST',
      url: base,
      headers: practitioner.headers,
      payload: { kind: 'photo' },
    });
    t.equal(json.statusCode, 400, 'not multipart');
  });

  await t.test(
    'roles: reception only consent scans; auditor and admin nothing; another clinic 404',
    async (t) => {
      const scan = await post(
        reception.headers,
        { kind: 'consent-scan', consentId: consent.id },
        pdf(2000),
      );
      t.equal(scan.statusCode, 201, scan.body);
      t.equal(scan.json<Json>().consentId, consent.id);
      t.equal((await post(reception.headers, { kind: 'photo' }, photoBytes)).statusCode, 403);
      t.equal(
        (await post(reception.headers, { kind: 'document' }, Buffer.from('text'))).statusCode,
        403,
        'role before type',
      );
      t.equal(
        (await post(auditor.headers, { kind: 'consent-scan', consentId: consent.id }, pdf(100)))
          .statusCode,
        403,
      );
      t.equal(
        (await post(admin.headers, { kind: 'consent-scan', consentId: consent.id }, pdf(100)))
          .statusCode,
        403,
      );
      t.equal((await post(outsider.headers, { kind: 'photo' }, photoBytes)).statusCode, 404);

      const mine = await app.inject({ url: base, headers: practitioner.headers });
      t.equal(mine.statusCode, 200);
      const all = mine.json<{ items: Json[] }>().items;
      t.ok(all.some((a) => a.kind === 'photo') && all.some((a) => a.kind === 'consent-scan'));
      const desk = await app.inject({ url: base, headers: reception.headers });
      t.same(
        [...new Set(desk.json<{ items: Json[] }>().items.map((a) => a.kind))],
        ['consent-scan'],
        'reception sees scans only',
      );
      t.equal(
        (await app.inject({ url: `${base}/${created.id}`, headers: reception.headers })).statusCode,
        403,
      );
      t.equal(
        (await app.inject({ url: `${base}/${created.id}/content`, headers: reception.headers }))
          .statusCode,
        403,
      );
      const scanId = scan.json<Json>().id as string;
      t.equal(
        (await app.inject({ url: `${base}/${scanId}/content`, headers: reception.headers }))
          .statusCode,
        200,
      );
      for (const who of [auditor, admin]) {
        t.equal((await app.inject({ url: base, headers: who.headers })).statusCode, 403);
        t.equal(
          (await app.inject({ url: `${base}/${scanId}`, headers: who.headers })).statusCode,
          403,
        );
      }
      for (const url of [base, `${base}/${created.id}`, `${base}/${created.id}/content`]) {
        t.equal(
          (await app.inject({ url, headers: outsider.headers })).statusCode,
          404,
          `outsider ${url}`,
        );
      }
      const byConsent = await app.inject({
        url: `${base}?consentId=${consent.id}`,
        headers: practitioner.headers,
      });
      t.same(
        byConsent.json<{ items: Json[] }>().items.map((a) => a.id),
        [scanId],
      );
    },
  );

  await t.test('paging with a cursor', async (t) => {
    const first = await app.inject({ url: `${base}?limit=2`, headers: practitioner.headers });
    const page = first.json<{ items: Json[]; nextCursor: string }>();
    t.equal(page.items.length, 2);
    t.type(page.nextCursor, 'string');
    const second = await app.inject({
      url: `${base}?limit=500&cursor=${page.nextCursor}`,
      headers: practitioner.headers,
    });
    const rest = second.json<{ items: Json[]; nextCursor: null }>();
    t.equal(rest.nextCursor, null);
    t.notOk(rest.items.some((a) => page.items.some((b) => b.id === a.id)));
    t.equal(
      (await app.inject({ url: `${base}?cursor=nonsense`, headers: practitioner.headers }))
        .statusCode,
      400,
    );
  });

  await t.test('metadata read and download', async (t) => {
    const meta = await app.inject({ url: `${base}/${created.id}`, headers: practitioner.headers });
    t.equal(meta.statusCode, 200);
    t.same(meta.json(), created);
    const content = await app.inject({
      url: `${base}/${created.id}/content`,
      headers: practitioner.headers,
    });
    t.equal(content.statusCode, 200);
    t.equal(content.headers['content-type'], 'image/jpeg');
    t.equal(content.headers['content-length'], String(created.size));
    t.match(content.headers['content-disposition'], /^attachment; filename="[0-9a-f-]+\.jpg"$/);
    t.equal(content.headers['cache-control'], 'no-store');
    t.equal(content.rawPayload.length, created.size, 'size describes the stored bytes');
    t.equal(createHash('sha256').update(content.rawPayload).digest('hex'), created.sha256);
    t.equal(
      (
        await app.inject({
          url: `${base}/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`,
          headers: practitioner.headers,
        })
      ).statusCode,
      404,
    );
    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      const res = await app.inject({
        method,
        url: `${base}/${created.id}`,
        headers: practitioner.headers,
      });
      t.equal(res.statusCode, 405, method);
    }
  });

  await t.test('a large PDF: byte for byte, in chunks; no plaintext in the database', async (t) => {
    const marker = 'KANARIE-Big-Qq77';
    const bytes = pdf(4 * CHUNK_BYTES + 99, marker);
    const res = await post(
      practitioner.headers,
      { kind: 'document', caption: 'Kanarie-Caption-Ww3' },
      bytes,
    );
    t.equal(res.statusCode, 201, res.body);
    const { id } = res.json<{ id: string }>();
    const chunks = await db.pool.query(
      'SELECT idx, length(data) AS n FROM attachment_chunks WHERE attachment_id = $1 ORDER BY idx',
      [id],
    );
    t.same(
      chunks.rows.map((r: { idx: number }) => r.idx),
      [0, 1, 2, 3, 4],
    );
    const back = await app.inject({ url: `${base}/${id}/content`, headers: practitioner.headers });
    t.ok(back.rawPayload.equals(bytes));
    const dump = await db.pool.query(
      `SELECT count(*)::int AS n FROM attachment_chunks c, attachments a
        WHERE position($1::bytea in c.data) > 0 OR position($2::bytea in coalesce(a.caption_enc, ''::bytea)) > 0
           OR position($3::bytea in a.sha256_enc) > 0`,
      [
        Buffer.from(marker),
        Buffer.from('Kanarie-Caption-Ww3'),
        Buffer.from(createHash('sha256').update(bytes).digest('hex')),
      ],
    );
    t.equal((dump.rows[0] as { n: number }).n, 0, 'neither content, caption nor hash in clear');
  });

  await t.test('tampered chunks fail the download', async (t) => {
    const bytes = pdf(3 * CHUNK_BYTES + 10);
    const res = await post(practitioner.headers, { kind: 'document' }, bytes);
    const { id } = res.json<{ id: string }>();
    const rows = (
      await db.pool.query<{ idx: number; data: Buffer }>(
        'SELECT idx, data FROM attachment_chunks WHERE attachment_id = $1 ORDER BY idx',
        [id],
      )
    ).rows;
    const put = async (chunks: Array<Buffer | undefined>) => {
      await db.pool.query('DELETE FROM attachment_chunks WHERE attachment_id = $1', [id]);
      for (const [idx, data] of chunks.entries()) {
        if (data)
          await db.pool.query(
            'INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, $2, $3)',
            [id, idx, data],
          );
      }
    };
    const flipped = (data: Buffer) => {
      const copy = Buffer.from(data);
      copy[100]! ^= 1;
      return copy;
    };
    const original = rows.map((r) => r.data);

    await put([flipped(original[0]!), ...original.slice(1)]);
    const first = await app.inject({ url: `${base}/${id}/content`, headers: practitioner.headers });
    t.equal(first.statusCode, 500, 'first chunk: a problem answer');
    t.match(first.headers['content-type'], /application\/problem\+json/);
    t.notMatch(first.body, /DecryptionFailed|stack/);
    const failure = await db.pool.query(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'attachment.download' AND outcome = 'failure' AND resource_id = $1`,
      [id],
    );
    t.equal((failure.rows[0] as { n: number }).n, 1, 'audited as a failure');

    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const fetchRaw = () =>
      new Promise<{ status: number; length: number; received: number; complete: boolean }>(
        (resolve) => {
          const req = http.get(
            {
              host: '127.0.0.1',
              port,
              path: `${base}/${id}/content`,
              headers: practitioner.headers,
            },
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
      ['swapped', [original[0], original[2], original[1], original[3]]],
      ['truncated', original.slice(0, 3)],
      [
        'bit flipped in a later chunk',
        [original[0], original[1], flipped(original[2]!), original[3]],
      ],
      ['appended', [...original, original[3]]],
    ] as const) {
      await put([...chunks]);
      const got = await fetchRaw();
      t.equal(got.status, 200, `${what}: headers were sent`);
      t.ok(
        got.received < got.length && !got.complete,
        `${what}: aborted short of Content-Length (${got.received}/${got.length})`,
      );
    }
    await put(original);
    const whole = await fetchRaw();
    t.ok(whole.complete && whole.received === bytes.length, 'untouched again: whole');
  });

  await t.test('every upload, metadata read and download is audited', async (t) => {
    const rows = await db.pool.query<{ action: string; outcome: string; n: number }>(
      `SELECT action, outcome, count(*)::int AS n FROM audit_events WHERE action LIKE 'attachment.%' GROUP BY 1, 2`,
    );
    const count = (action: string, outcome = 'success') =>
      rows.rows.find((r) => r.action === action && r.outcome === outcome)?.n ?? 0;
    t.ok(count('attachment.create') >= 5);
    t.ok(count('attachment.read') >= 1);
    t.ok(count('attachment.download') >= 3);
    t.ok(count('attachment.download', 'failure') >= 5, 'every failed download');
    t.ok(count('attachment.create', 'denied') >= 3, 'role refusals');
    t.ok(count('attachment.read', 'denied') >= 1);
  });

  await t.test('a body that is not the multipart it claims: 400, not 500', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: base,
      headers: { ...practitioner.headers, 'content-type': 'multipart/form-data; boundary=x' },
      payload: '{"__proto__":"x"}',
    });
    t.equal(res.statusCode, 400, res.body);
    t.match(res.json(), { errors: [{ path: 'body' }] });
  });

  await t.test("erasure removes the client's attachments and their chunks", async (t) => {
    const stored = async () =>
      (
        await db.pool.query<{ rows: number; chunks: number }>(
          `SELECT (SELECT count(*)::int FROM attachments WHERE client_id = $1) AS rows,
                  (SELECT count(*)::int FROM attachment_chunks c JOIN attachments a
                     ON a.id = c.attachment_id WHERE a.client_id = $1) AS chunks`,
          [client.id],
        )
      ).rows[0]!;
    const before = await stored();
    t.ok(before.rows > 0 && before.chunks > 0, 'the client has attachments to begin with');
    const chunksBefore = (await db.pool.query('SELECT 1 FROM attachment_chunks')).rowCount ?? 0;
    const erased = await app.inject({
      method: 'DELETE',
      url: `/v1/clients/${client.id}`,
      headers: admin.headers,
      payload: { reason: 'client asked' },
    });
    t.equal(erased.statusCode, 204, erased.body);
    t.same(await stored(), { rows: 0, chunks: 0 });
    t.equal(
      (await db.pool.query('SELECT 1 FROM attachment_chunks')).rowCount,
      chunksBefore - before.chunks,
      'no orphaned chunk is left',
    );
    const gone = await app.inject({ method: 'GET', url: base, headers: practitioner.headers });
    t.equal(gone.statusCode, 404);
  });
});
