/**
 * Canaries: a scripted session puts a distinctive value in every personal and clinical field
 * (client names, CPR, e-mail, phone, address, signer name, answers, signature image, journal
 * notes, treated areas, products and batch numbers, amendment notes and reason) and in every
 * secret (passwords, access and refresh tokens, the TOTP secret and codes, recovery codes), and
 * uploads markers in attachments (a PDF's bytes, a JPEG's and a HEIC's EXIF, a caption, a
 * refused upload). Afterwards none
 * may appear in a dump of every table (row_to_json, as the superuser), in the service's log
 * at level trace, in the audit log as an auditor reads or exports it, or in any error body.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import * as OTPAuth from 'otpauth';
import pg from 'pg';
import sharp from 'sharp';
import t from 'tap';
import { CHUNK_BYTES } from '../../src/crypto/index.js';
import { createLogger } from '../../src/logger.js';
import { totpCode } from '../../src/modules/auth/totp.js';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createClinic, fakeClock, loginAs, login } from '../helpers/auth.js';
import { makeClientResponse } from '../helpers/clients.js';
import { signConsentResponse } from '../helpers/consents.js';
import { writeEntryResponse } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';
import { recordSummary } from './summary.js';
import { pngBytes } from '../helpers/png.js';
import { heic } from '../attachments/heic-fixture.js';
import { upload } from '../attachments/multipart.js';

const tag = () => `Cnry${randomBytes(6).toString('hex')}`;
const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');

t.test('no canary reaches the database in clear, the log, the audit log or an error', async (t) => {
  const clock = fakeClock();
  const logLines: string[] = [];
  const logger = createLogger('trace', { write: (line: string) => void logLines.push(line) });
  const { app, db } = await buildTestApp(t, { build: { now: clock.now, logger } });
  const clinicId = await createClinic(app);

  /** Every canary: its name and the spellings it could take when stored or logged. */
  const canaries = new Map<string, string[]>();
  const canary = (name: string, value: string, ...spellings: string[]) => {
    canaries.set(name, [value, ...spellings]);
    return value;
  };

  const errorBodies: string[] = [];
  /** Keeps the body of an error answer, to look for canaries in it. */
  const noted = (res: LightMyRequestResponse) => {
    if (res.statusCode >= 400) errorBodies.push(`${res.statusCode} ${res.body}`);
    return res;
  };
  const call = async (request: InjectOptions) => noted(await app.inject(request));

  // Users and credentials: a password set through the API, tokens, TOTP secret and code.
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
  const password = canary('password', `${tag()} horse battery`);
  const created = await call({
    method: 'POST',
    url: '/v1/users',
    headers: admin.headers,
    payload: {
      username: `prac-${randomBytes(4).toString('hex')}`,
      password,
      role: 'practitioner',
      displayName: 'Practitioner',
      clinicIds: [clinicId],
    },
  });
  t.equal(created.statusCode, 201);
  const username = created.json<{ username: string }>().username;
  const session = await login(app, { username, password });
  canary('accessToken', session.accessToken);
  canary('refreshToken', session.refreshToken);
  const refreshed = await call({
    method: 'POST',
    url: '/v1/auth/refresh',
    payload: { refreshToken: session.refreshToken },
  });
  t.equal(refreshed.statusCode, 200);
  const pair = refreshed.json<{ accessToken: string; refreshToken: string }>();
  canary('refreshed accessToken', pair.accessToken);
  canary('refreshed refreshToken', pair.refreshToken);
  const practitioner = bearer(pair.accessToken);
  const enroll = await call({ method: 'POST', url: '/v1/auth/mfa/enroll', headers: practitioner });
  const { secret } = enroll.json<{ secret: string }>();
  canary(
    'totp secret',
    secret,
    Buffer.from(OTPAuth.Secret.fromBase32(secret).bytes).toString('hex'),
  );
  const code = totpCode(secret, clock.now().getTime());
  canary('totp code', `"${code}"`);
  const confirm = await call({
    method: 'POST',
    url: '/v1/auth/mfa/confirm',
    headers: practitioner,
    payload: { code },
  });
  t.equal(confirm.statusCode, 200);
  // Recovery codes are shown once: never stored, logged or audited, in either spelling.
  for (const [index, code] of confirm.json<{ recoveryCodes: string[] }>().recoveryCodes.entries())
    canary(`recovery code ${index}`, code, code.replaceAll('-', ''), code.slice(5));
  await call({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username, password: canary('wrong password', `${tag()} wrong horse`) },
  });

  // A client with a canary in every personal field, changed and searched.
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const cpr = canary('nationalId', `1705831${digits(3)}`);
  const phoneDigits = `46${digits(9)}`;
  const client = {
    clinicId,
    firstName: canary('firstName', tag()),
    lastName: canary('lastName', tag()),
    dateOfBirth: '1983-05-17',
    nationalId: `${cpr.slice(0, 6)}-${cpr.slice(6)}`,
    email: canary('email', `${tag()}@example.dk`),
    phone: canary('phone', `+${phoneDigits}`, phoneDigits),
    address: {
      street: canary('street', `${tag()} Street 1`),
      postalCode: '7100',
      city: canary('city', tag()),
      country: 'DK',
    },
  };
  const createdClient = noted(
    await makeClientResponse(app, { ...client, headers: reception.headers }),
  );
  t.equal(createdClient.statusCode, 201, createdClient.body);
  const clientId = createdClient.json<{ id: string }>().id;
  const patched = await call({
    method: 'PATCH',
    url: `/v1/clients/${clientId}`,
    headers: reception.headers,
    payload: { lastName: canary('new lastName', tag()), marketingOptIn: true },
  });
  t.equal(patched.statusCode, 200);
  for (const payload of [{ email: client.email }, { phone: client.phone }, { nationalId: cpr }]) {
    const found = await call({
      method: 'POST',
      url: '/v1/clients/search',
      headers: reception.headers,
      payload,
    });
    t.equal(found.json<{ items: unknown[] }>().items.length, 1, 'search finds the client');
  }

  // A signed consent, a journal entry and its amendment.
  const template = await publishTemplate(app, admin.headers, {
    key: `canary-${randomBytes(4).toString('hex')}`,
    title: 'Filler consent',
    body: 'I consent to filler treatment.',
    treatmentTypes: ['filler'],
    language: 'en',
  });
  const signature = pngBytes({ rest: Buffer.concat([Buffer.from(tag()), randomBytes(32)]) });
  canary('signature', signature.toString('base64'), signature.subarray(8).toString('hex'));
  const consent = noted(
    await signConsentResponse(app, {
      clientId,
      templateId: template.id,
      headers: reception.headers,
      signerName: canary('signerName', tag()),
      signatureImage: signature.toString('base64'),
      answers: { allergies: canary('answer', tag()), pregnant: false },
      signedAt: new Date(clock.now().getTime() - 3_600_000).toISOString(),
    }),
  );
  t.equal(consent.statusCode, 201, consent.body);
  const otp = totpCode(secret, clock.now().getTime() + 30_000);
  clock.advance(30_000);
  canary('login otp', `"${otp}"`);
  const mfaSession = await login(app, { username, password, otp });
  canary('mfa accessToken', mfaSession.accessToken);
  const practitionerMfa = bearer(mfaSession.accessToken);
  const batchNumber = canary('batchNumber', `B${tag()}`);
  const entry = noted(
    await writeEntryResponse(app, {
      clientId,
      headers: practitionerMfa,
      treatmentType: 'filler',
      performedAt: new Date(clock.now().getTime() - 1_800_000).toISOString(),
      notes: canary('notes', `${tag()} 1 ml in the upper lip`),
      treatedAreas: [canary('treatedArea', tag())],
      products: [{ name: canary('product', tag()), batchNumber, quantity: 1, unit: 'ml' }],
    }),
  );
  t.equal(entry.statusCode, 201, entry.body);
  const entryId = entry.json<{ id: string }>().id;
  const amendment = await call({
    method: 'POST',
    url: `/v1/clients/${clientId}/journal/${entryId}/amendments`,
    headers: practitionerMfa,
    payload: {
      notes: canary('amendment notes', `${tag()} 1.5 ml`),
      reason: canary('amendment reason', `${tag()} typing error`),
    },
  });
  t.equal(amendment.statusCode, 201, amendment.body);

  // Attachments: a marker in a PDF's bytes (stored encrypted), in a JPEG's and a HEIC's EXIF
  // (stripped before anything is stored), in a caption (sealed), and in a refused upload.
  // A bytea column reads as hex in row_to_json: each marker is looked for as hex too.
  const asBytes = (value: string) => Buffer.from(value).toString('hex');
  const photoTemplate = await publishTemplate(app, admin.headers, {
    key: `canary-photos-${randomBytes(4).toString('hex')}`,
    treatmentTypes: ['filler'],
    photoScopes: ['clinical'],
  });
  const photoConsent = noted(
    await signConsentResponse(app, {
      clientId,
      templateId: photoTemplate.id,
      headers: reception.headers,
      photoScopes: ['clinical'],
    }),
  );
  t.equal(photoConsent.statusCode, 201, photoConsent.body);
  const pdfMarker = tag();
  canary('pdf content', pdfMarker, asBytes(pdfMarker));
  const pdfBytes = Buffer.concat([
    Buffer.from(`%PDF-1.7\n% ${pdfMarker}\n`),
    randomBytes(CHUNK_BYTES + 500),
    Buffer.from(`\n(${pdfMarker}) Tj\n%%EOF\n`),
  ]);
  const exifMarker = tag();
  canary('jpeg exif', exifMarker, asBytes(exifMarker));
  const jpegBytes = await sharp({
    create: { width: 32, height: 24, channels: 3, background: '#aa3344' },
  })
    .jpeg()
    .withExif({ IFD0: { ImageDescription: exifMarker, Make: exifMarker } })
    .toBuffer();
  t.ok(jpegBytes.includes(Buffer.from(exifMarker)), 'the JPEG carries its marker in EXIF');
  const heicMarker = tag();
  canary('heic exif', heicMarker, asBytes(heicMarker));
  const heicBytes = heic({ marker: heicMarker }).bytes;
  const caption = canary('caption', `${tag()} left cheek, before`);
  const attach = async (metadata: Record<string, unknown>, content: Buffer) => {
    const body = upload(metadata, content);
    return call({
      method: 'POST',
      url: `/v1/clients/${clientId}/attachments`,
      headers: { ...practitionerMfa, ...body.headers },
      payload: body.payload,
    });
  };
  const attached: Array<{ id: string }> = [];
  for (const [metadata, content] of [
    [{ kind: 'document', caption }, pdfBytes],
    [{ kind: 'photo' }, jpegBytes],
    [{ kind: 'photo' }, heicBytes],
  ] as const) {
    const res = await attach(metadata, content);
    t.equal(res.statusCode, 201, res.body);
    attached.push(res.json<{ id: string }>());
  }
  const refusedMarker = tag();
  canary('refused upload', refusedMarker, asBytes(refusedMarker));
  const refused = await attach({ kind: 'document' }, Buffer.from(`plain ${refusedMarker}`));
  t.equal(refused.statusCode, 415, 'a refused upload');
  // Positive control: the PDF comes back with its marker; the photos without theirs.
  const contents = await Promise.all(
    attached.map((a) =>
      app.inject({
        url: `/v1/clients/${clientId}/attachments/${a.id}/content`,
        headers: practitionerMfa,
      }),
    ),
  );
  t.ok(contents[0]!.rawPayload.equals(pdfBytes), 'the PDF comes back byte for byte');
  t.notOk(contents[1]!.rawPayload.includes(Buffer.from(exifMarker)), 'JPEG stripped');
  t.notOk(contents[2]!.rawPayload.includes(Buffer.from(heicMarker)), 'HEIC stripped');
  const zipped = await call({
    method: 'GET',
    url: `/v1/clients/${clientId}/export?format=zip`,
    headers: admin.headers,
  });
  t.ok(zipped.rawPayload.includes(Buffer.from(pdfMarker)), 'the export zip holds the PDF');

  // Reads of everything, as those allowed to.
  const reads: InjectOptions[] = [
    { method: 'GET', url: `/v1/clients/${clientId}`, headers: reception.headers },
    { method: 'GET', url: `/v1/clients?clinicId=${clinicId}`, headers: reception.headers },
    { method: 'GET', url: `/v1/clients/${clientId}/consents`, headers: reception.headers },
    { method: 'GET', url: `/v1/clients/${clientId}/journal`, headers: practitionerMfa },
    { method: 'GET', url: `/v1/recalls?batchNumber=${batchNumber}`, headers: practitionerMfa },
  ];
  for (const read of reads) t.equal((await call(read)).statusCode, 200, JSON.stringify(read.url));
  // Positive control: the values are spelled as the service hands them back.
  const exported = await call({
    method: 'GET',
    url: `/v1/clients/${clientId}/export`,
    headers: admin.headers,
  });
  t.equal(exported.statusCode, 200);
  const stored = ['firstName', 'new lastName', 'email', 'phone', 'street', 'city', 'signerName'];
  stored.push('answer', 'signature', 'notes', 'treatedArea', 'product', 'batchNumber');
  stored.push('amendment notes', 'amendment reason', 'caption');
  for (const name of stored)
    t.ok(
      exported.body.toLowerCase().includes(canaries.get(name)![0]!.toLowerCase()),
      `${name} is in the export`,
    );

  // Requests that fail while carrying canaries.
  const failing: InjectOptions[] = [
    {
      method: 'POST',
      url: '/v1/clients',
      headers: reception.headers,
      payload: { ...client, dateOfBirth: canary('bad dateOfBirth', tag()) },
    },
    {
      method: 'POST',
      url: '/v1/clients',
      headers: reception.headers,
      payload: { ...client, email: canary('bad email', tag()) },
    },
    {
      method: 'POST',
      url: '/v1/clients/search',
      headers: reception.headers,
      payload: { phone: canary('bad phone', `${tag()}x`) },
    },
    {
      method: 'PATCH',
      url: `/v1/clients/${clientId}`,
      headers: reception.headers,
      payload: { nationalId: canary('bad nationalId', `99${digits(8)}`) },
    },
    {
      method: 'POST',
      url: `/v1/clients/${clientId}/journal`,
      headers: practitionerMfa,
      payload: {
        treatmentType: 'botox',
        performedAt: clock.now().toISOString(),
        notes: canary('refused notes', tag()),
      },
    },
    {
      method: 'POST',
      url: '/v1/clients',
      headers: { ...reception.headers, 'content-type': 'application/json' },
      payload: `{"firstName":"${canary('broken json', tag())}"`,
    },
    {
      method: 'POST',
      url: `/v1/clients/${clientId}/consents`,
      headers: reception.headers,
      payload: {
        templateId: template.id,
        signerName: canary('refused signer', tag()),
        signatureImage: Buffer.from(canary('non-png signature', tag())).toString('base64'),
      },
    },
  ];
  for (const request of failing) {
    const res = await call(request);
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${JSON.stringify(request.url)} refused`);
  }

  // The audit log as an auditor sees it.
  await app.auditChain.sealNow();
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [clinicId] });
  const auditViews = await Promise.all(
    [
      '/v1/audit-events?limit=500',
      '/v1/audit-events/export?format=ndjson',
      '/v1/audit-events/export?format=csv',
      `/v1/clients/${clientId}/access-log`,
    ].map((url) => app.inject({ method: 'GET', url, headers: auditor.headers })),
  );
  for (const view of auditViews) t.equal(view.statusCode, 200);

  // Every table, as the superuser sees it.
  const superuser = new pg.Client({ connectionString: db.adminUrl });
  await superuser.connect();
  const dump: string[] = [];
  try {
    const tables = await superuser.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
    );
    for (const { name } of tables.rows) {
      const rows = await superuser.query<{ row: string }>(
        `SELECT row_to_json(t)::text AS row FROM ${name} t`,
      );
      for (const { row } of rows.rows) dump.push(`${name} ${row}`);
    }
    t.ok(tables.rows.length >= 10, `${tables.rows.length} tables dumped, ${dump.length} rows`);
  } finally {
    await superuser.end();
  }

  const places = {
    database: dump.join('\n').toLowerCase(),
    log: logLines.join('').toLowerCase(),
    'audit log': auditViews
      .map((view) => view.body)
      .join('\n')
      .toLowerCase(),
    'error bodies': errorBodies.join('\n').toLowerCase(),
  };
  t.ok(logLines.length > 50, `${logLines.length} log lines captured at trace`);
  // Control for the hex spellings: a stored chunk's bytes are found in the dump as hex.
  const sealedChunk = await db.pool.query<{ data: Buffer }>(
    'SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND idx = 1',
    [attached[0]!.id],
  );
  t.ok(
    places.database.includes(sealedChunk.rows[0]!.data.subarray(100, 132).toString('hex')),
    'bytea columns are searched as hex',
  );
  t.ok(
    logLines.some((line) => line.includes('"url":"/v1/recalls?batchNumber=[redacted]"')),
    'the recall is logged with its query value censored',
  );
  let hits = 0;
  for (const [name, spellings] of canaries) {
    for (const [place, haystack] of Object.entries(places)) {
      const found = spellings.filter((s) => haystack.includes(s.toLowerCase()));
      if (found.length > 0) hits += 1;
      t.same(found, [], `${name} not in the ${place}`);
    }
  }
  recordSummary('canaries', { canaries: canaries.size, places: 4, hits });
});
