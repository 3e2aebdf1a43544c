import { createHash } from 'node:crypto';
import sharp from 'sharp';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';
import { heic } from './heic-fixture.js';
import { upload } from './multipart.js';

const MARKER = 'KANARIE-EXIF-Mk22';

t.test(
  'images lose EXIF (GPS, marker) but keep dimensions; PDFs are stored byte for byte',
  async (t) => {
    const { app } = await buildTestApp(t);
    const clinic = await createClinic(app);
    const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
    const client = await makeClient(app, { clinicId: clinic, headers: practitioner.headers });
    const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
    const template = await publishTemplate(app, admin.headers, {
      key: 'photos',
      treatmentTypes: ['filler'],
      photoScopes: ['clinical'],
    });
    await signConsent(app, {
      clientId: client.id,
      templateId: template.id,
      headers: practitioner.headers,
      photoScopes: ['clinical'],
    });
    const base = `/v1/clients/${client.id}/attachments`;
    const send = async (content: Buffer, kind = 'photo') => {
      const body = upload({ kind }, content);
      const res = await app.inject({
        method: 'POST',
        url: base,
        headers: { ...practitioner.headers, ...body.headers },
        payload: body.payload,
      });
      t.equal(res.statusCode, 201, res.body);
      const created = res.json<{ id: string; width: number | null; height: number | null }>();
      const back = await app.inject({
        url: `${base}/${created.id}/content`,
        headers: practitioner.headers,
      });
      return { created, bytes: back.rawPayload };
    };

    const exif = {
      IFD0: { ImageDescription: MARKER, Make: 'KanarieCam', Model: 'K-1' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '55/1 40/1 0/1',
        GPSLongitudeRef: 'E',
        GPSLongitude: '12/1 34/1 0/1',
      },
    };
    const jpeg = await sharp({
      create: { width: 320, height: 200, channels: 3, background: '#c83232' },
    })
      .jpeg()
      .withExif(exif)
      .toBuffer();
    const before = await sharp(jpeg).metadata();
    t.ok(
      before.exif && before.exif.includes(Buffer.from(MARKER)),
      'the fixture carries the marker',
    );
    t.ok(jpeg.includes(Buffer.from('KanarieCam')));

    const { created, bytes } = await send(jpeg);
    t.equal(bytes.indexOf(Buffer.from(MARKER)), -1, 'no EXIF marker');
    t.equal(bytes.indexOf(Buffer.from('KanarieCam')), -1, 'no make');
    const after = await sharp(bytes).metadata();
    t.equal(after.exif, undefined, 'no EXIF at all (GPS included)');
    t.equal(after.format, 'jpeg');
    t.same([after.width, after.height], [320, 200], 'full resolution');
    t.same([created.width, created.height], [320, 200]);

    const png = await sharp({
      create: { width: 33, height: 17, channels: 4, background: '#00ff0080' },
    })
      .png()
      .withExif(exif)
      .toBuffer();
    const pngBack = await send(png);
    t.equal(pngBack.bytes.indexOf(Buffer.from(MARKER)), -1, 'PNG: no marker');
    const raw = async (b: Buffer) => sharp(b).raw().toBuffer();
    t.ok((await raw(pngBack.bytes)).equals(await raw(png)), 'PNG: the same pixels');

    // HEIC: metadata items zeroed in place, every other byte as uploaded (attachments.heic.ts).
    const photo = heic({ width: 4032, height: 3024, marker: MARKER });
    t.ok(photo.bytes.includes(Buffer.from(MARKER)), 'the HEIC fixture carries the marker');
    const heicBack = await send(photo.bytes);
    t.equal(heicBack.bytes.indexOf(Buffer.from(MARKER)), -1, 'HEIC: no marker');
    t.equal(heicBack.bytes.indexOf(Buffer.from('GPSLatitude')), -1, 'HEIC: no GPS');
    t.equal(heicBack.bytes.length, photo.bytes.length, 'HEIC: same length');
    const outside = (i: number) =>
      [photo.exifAt, photo.xmpAt].every(([start, end]) => i < start || i >= end);
    const changed = [...photo.bytes.keys()].filter(
      (i) => outside(i) && heicBack.bytes[i] !== photo.bytes[i],
    );
    t.same(changed, [], 'HEIC: every byte outside Exif and XMP is identical');
    t.same([heicBack.created.width, heicBack.created.height], [4032, 3024], 'HEIC: ispe');
    const body = upload({ kind: 'photo' }, photo.bytes.subarray(0, 200));
    const broken = await app.inject({
      method: 'POST',
      url: base,
      headers: { ...practitioner.headers, ...body.headers },
      payload: body.payload,
    });
    t.equal(broken.statusCode, 415, 'a HEIC whose boxes do not parse');

    const pdf = Buffer.from(`%PDF-1.4\n% ${MARKER}\n1 0 obj << >> endobj\n%%EOF\n`);
    const pdfBack = await send(pdf, 'document');
    t.ok(pdfBack.bytes.equals(pdf), 'PDF byte for byte');
    t.equal(
      createHash('sha256').update(pdfBack.bytes).digest('hex'),
      createHash('sha256').update(pdf).digest('hex'),
    );
  },
);
