import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import t from 'tap';
import yauzl from 'yauzl';
import { CHUNK_BYTES } from '../../src/crypto/index.js';
import { upload } from '../attachments/multipart.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';

type Json = Record<string, unknown>;
interface Meta {
  id: string;
  contentType: string;
  sha256: string;
  size: number;
}

/** Every entry of a ZIP archive (read with yauzl, which checks each entry's CRC-32). */
function unzip(archive: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(archive, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      const entries = new Map<string, Buffer>();
      zip.on('error', reject);
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (openError, stream) => {
          if (openError) return reject(openError);
          const parts: Buffer[] = [];
          stream.on('data', (part: Buffer) => parts.push(part));
          stream.on('error', reject);
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(parts));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

t.test('data-subject export: attachments listed; ?format=zip holds their content', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const client = await makeClient(app, { clinicId: clinic, headers: reception.headers });
  const template = await publishTemplate(app, admin.headers, {
    key: 'photos',
    treatmentTypes: ['filler'],
    photoScopes: ['clinical', 'marketing'],
  });
  const consent = await signConsent(app, {
    clientId: client.id,
    templateId: template.id,
    headers: reception.headers,
    photoScopes: ['clinical', 'marketing'],
  });
  const base = `/v1/clients/${client.id}`;
  const post = async (as: { authorization: string }, metadata: Json, content: Buffer) => {
    const body = upload(metadata, content);
    const res = await app.inject({
      method: 'POST',
      url: `${base}/attachments`,
      headers: { ...as, ...body.headers },
      payload: body.payload,
    });
    t.equal(res.statusCode, 201, res.body);
    return res.json<Meta>();
  };
  const photo = await sharp({
    create: { width: 40, height: 30, channels: 3, background: '#336699' },
  })
    .jpeg()
    .toBuffer();
  const pdf = (size: number) =>
    Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(size - 15), Buffer.from('\n%%EOF\n')]);
  const uploaded = [
    await post(practitioner.headers, { kind: 'photo', caption: 'Før' }, photo),
    await post(practitioner.headers, { kind: 'document' }, pdf(3 * CHUNK_BYTES + 77)),
    await post(reception.headers, { kind: 'consent-scan', consentId: consent.id }, pdf(900)),
  ];
  const stored = new Map<string, Buffer>();
  for (const meta of uploaded) {
    const res = await app.inject({
      url: `${base}/attachments/${meta.id}/content`,
      headers: practitioner.headers,
    });
    stored.set(meta.id, res.rawPayload);
  }
  const listed = (
    await app.inject({ url: `${base}/attachments`, headers: practitioner.headers })
  ).json<{ items: Json[] }>().items;

  await t.test('the JSON export lists every attachment as the attachments read does', async (t) => {
    const res = await app.inject({ url: `${base}/export`, headers: admin.headers });
    t.equal(res.statusCode, 200, res.body);
    t.match(res.headers['content-type'], /^application\/json/);
    const document = res.json<{ attachments: Json[] }>();
    t.same(document.attachments, listed, 'same metadata, every kind, oldest first');
    t.equal(document.attachments.length, 3);
    t.ok(document.attachments.every((a) => a.marketingAllowed === true));
  });

  await t.test('?format=zip: export.json and every attachment, byte for byte', async (t) => {
    const before = await db.pool.query<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM audit_events WHERE client_id = $1 GROUP BY 1`,
      [client.id],
    );
    const res = await app.inject({ url: `${base}/export?format=zip`, headers: admin.headers });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'application/zip');
    t.equal(res.headers['content-length'], String(res.rawPayload.length), 'exact length');
    t.match(res.headers['content-disposition'], `attachment; filename="export-${client.id}.zip"`);
    const entries = await unzip(res.rawPayload);
    const ext = { 'image/jpeg': 'jpg', 'application/pdf': 'pdf' } as Record<string, string>;
    t.same(
      [...entries.keys()],
      ['export.json', ...uploaded.map((a) => `attachments/${a.id}.${ext[a.contentType]}`)],
    );
    for (const meta of uploaded) {
      const bytes = entries.get(`attachments/${meta.id}.${ext[meta.contentType]}`)!;
      t.ok(bytes.equals(stored.get(meta.id)!), `${meta.id}: the downloaded bytes`);
      t.equal(createHash('sha256').update(bytes).digest('hex'), meta.sha256);
    }
    const document = JSON.parse(entries.get('export.json')!.toString('utf8')) as Json & {
      attachments: Json[];
    };
    t.same(document.attachments, listed, 'export.json lists the attachments');
    const json = (await app.inject({ url: `${base}/export`, headers: admin.headers })).json<Json>();
    for (const key of ['client', 'legalHold', 'marketingHistory', 'consents', 'journal']) {
      t.same(document[key], json[key], `export.json ${key} is the JSON export's`);
    }
    const after = await db.pool.query<{ action: string; outcome: string; n: number }>(
      `SELECT action, outcome, count(*)::int AS n FROM audit_events WHERE client_id = $1 GROUP BY 1, 2`,
      [client.id],
    );
    const count = (rows: Array<{ action: string; n: number }>, action: string) =>
      rows.filter((r) => r.action === action).reduce((sum, r) => sum + r.n, 0);
    t.equal(
      count(after.rows, 'attachment.download') - count(before.rows, 'attachment.download'),
      3,
      'each attachment audited as downloaded',
    );
    t.equal(
      count(after.rows, 'client.export') - count(before.rows, 'client.export'),
      2,
      'the zip and the JSON export audited as exports',
    );
  });

  await t.test('who may: admin only; a bad format 400; an unknown client 404', async (t) => {
    for (const who of [practitioner, reception]) {
      const res = await app.inject({ url: `${base}/export?format=zip`, headers: who.headers });
      t.equal(res.statusCode, 403);
    }
    const bad = await app.inject({ url: `${base}/export?format=tar`, headers: admin.headers });
    t.equal(bad.statusCode, 400);
    const unknown = await app.inject({
      url: '/v1/clients/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/export?format=zip',
      headers: admin.headers,
    });
    t.equal(unknown.statusCode, 404);
  });

  await t.test('a client without attachments: a zip of export.json alone', async (t) => {
    const other = await makeClient(app, { clinicId: clinic, headers: reception.headers });
    const res = await app.inject({
      url: `/v1/clients/${other.id}/export?format=zip`,
      headers: admin.headers,
    });
    t.equal(res.statusCode, 200);
    const entries = await unzip(res.rawPayload);
    t.same([...entries.keys()], ['export.json']);
    t.same(
      (JSON.parse(entries.get('export.json')!.toString()) as { attachments: unknown[] })
        .attachments,
      [],
    );
  });

  await t.test('a tampered chunk mid-zip aborts the response: never a whole archive', async (t) => {
    const pdfId = uploaded[1]!.id;
    const chunk = await db.pool.query<{ data: Buffer }>(
      'SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND idx = 2',
      [pdfId],
    );
    const flipped = Buffer.from(chunk.rows[0]!.data);
    flipped[50]! ^= 1;
    // Chunks are never updated (a trigger refuses it): replace the row, as an attacker could.
    await db.pool.query('DELETE FROM attachment_chunks WHERE attachment_id = $1 AND idx = 2', [
      pdfId,
    ]);
    await db.pool.query(
      'INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, 2, $2)',
      [pdfId, flipped],
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const got = await new Promise<{
      status: number;
      length: number;
      body: Buffer;
      complete: boolean;
    }>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: `${base}/export?format=zip`, headers: admin.headers },
        (response) => {
          const parts: Buffer[] = [];
          response.on('data', (part: Buffer) => parts.push(part));
          const done = () =>
            resolve({
              status: response.statusCode!,
              length: Number(response.headers['content-length']),
              body: Buffer.concat(parts),
              complete: response.complete,
            });
          response.on('end', done);
          response.on('aborted', done);
          response.on('error', done);
        },
      );
      req.on('error', () => undefined);
    });
    t.equal(got.status, 200, 'the headers were sent');
    t.ok(got.body.length < got.length && !got.complete, 'cut short of Content-Length');
    t.ok(got.body.length > CHUNK_BYTES, 'after export.json, the photo and two good chunks');
    await t.rejects(unzip(got.body), 'what arrived is not a readable archive');
    const failures = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'attachment.download'
          AND outcome = 'failure' AND resource_id = $1`,
      [pdfId],
    );
    t.equal(failures.rows[0]!.n, 1, 'audited as a failed download');
  });
});
