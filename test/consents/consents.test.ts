import { createHash } from 'node:crypto';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { publishTemplate } from '../helpers/templates.js';
import { pngBytes } from '../helpers/png.js';

type Json = Record<string, unknown>;
const png = (size = 64, width = 300, height = 120) =>
  pngBytes({ size, width, height }).toString('base64');

/** Written independently of the service: sorted keys, no whitespace (RFC 8785 style). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical((value as Json)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

t.test('consents: record, read, hash, withdraw, scope', async (t) => {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const outsider = await loginAs(app, { role: 'reception', clinicIds: [await createClinic(app)] });
  const headers = reception.headers;

  const template = await publishTemplate(app, admin.headers, {
    key: 'filler',
    title: 'Filler',
    body: 'I consent to hyaluronic acid filler.',
    treatmentTypes: ['filler'],
    language: 'en',
  });
  const client = await makeClient(app, {
    clinicId: clinic,
    headers,
    firstName: 'Signe',
    lastName: 'Kanarie-Qx81',
    dateOfBirth: '1990-05-01',
  });
  const url = `/v1/clients/${client.id}/consents`;
  const post = (payload: Json, as = headers) =>
    app.inject({ method: 'POST', url, headers: as, payload });

  const signature = png(2048);
  const created = await post({
    templateId: template.id,
    signerName: 'Signe Kanarie-Qx81',
    signatureImage: signature,
    answers: { pregnant: false, allergies: 'Kanariepollen-Zq4', nested: { a: [1, 2] } },
  });
  t.equal(created.statusCode, 201, created.body);
  const consent = created.json<Json & { id: string; documentHash: string }>();
  t.match(consent, {
    templateId: template.id,
    templateKey: 'filler',
    templateVersion: 1,
    signedAt: clock.now().toISOString(),
    recordedAt: clock.now().toISOString(),
    witnessedBy: reception.id,
    status: 'active',
    withdrawnAt: null,
  });

  const read = await app.inject({ method: 'GET', url: `${url}/${consent.id}`, headers });
  t.equal(read.statusCode, 200, read.body);
  const detail = read.json<Json & { template: Json }>();
  t.equal(detail.template.body, template.body, 'the template text as signed');
  t.equal(detail.signatureImage, signature);
  const person = (
    await app.inject({ method: 'GET', url: `/v1/clients/${client.id}`, headers })
  ).json<Json>();
  const recomputed = createHash('sha256')
    .update(
      canonical({
        template: {
          id: detail.template.id,
          key: detail.template.key,
          version: detail.template.version,
          body: detail.template.body,
        },
        client: {
          id: person.id,
          firstName: person.firstName,
          lastName: person.lastName,
          dateOfBirth: person.dateOfBirth,
        },
        signerName: detail.signerName,
        signatureImage: detail.signatureImage,
        answers: detail.answers,
        signedAt: detail.signedAt,
      }),
      'utf8',
    )
    .digest('hex');
  t.equal(recomputed, consent.documentHash, 'documentHash recomputed from the export');

  t.test('signature image, answers and signedAt are checked', async (t) => {
    const bad: [Json, string][] = [
      [{ signatureImage: Buffer.from('GIF89a-not-a-png').toString('base64') }, 'PNG'],
      [{ signatureImage: png(256 * 1024 + 1) }, 'at most 256 KiB'],
      [{ signatureImage: png(64, 100_000, 100_000) }, 'at most 4096 × 4096 pixels'],
      [{ signatureImage: png(64, 4097, 10) }, 'at most 4096 × 4096 pixels'],
      [
        {
          signatureImage: Buffer.concat([pngBytes().subarray(0, 8), Buffer.alloc(56, 7)]).toString(
            'base64',
          ),
        },
        'PNG',
      ],
      [{ signatureImage: 'not base64 at all!' }, 'base64'],
      [{ answers: { a: { b: { c: { d: { e: { f: 1 } } } } } } }, 'nest'],
      [{ answers: { big: 'x'.repeat(17 * 1024) } }, '16 KiB'],
      [{ signedAt: new Date(clock.now().getTime() + 3_600_000).toISOString() }, 'future'],
      [{ signedAt: new Date(clock.now().getTime() - 31 * 86_400_000).toISOString() }, '30 days'],
      [{ templateId: client.id }, 'template'],
      [{ witnessedBy: reception.id }, 'witnessedBy'],
    ];
    for (const [overrides, message] of bad) {
      const res = await post({ templateId: template.id, signerName: 'Signe', ...overrides });
      t.equal(res.statusCode, 400, `${Object.keys(overrides).join()}: ${res.body.slice(0, 200)}`);
      t.match(res.body, message);
    }
    t.equal(
      (await post({ templateId: template.id, signerName: 'S', signatureImage: png(256 * 1024) }))
        .statusCode,
      201,
      'exactly 256 KiB is accepted',
    );
    const paper = new Date(clock.now().getTime() - 10 * 86_400_000).toISOString();
    const late = await post({ templateId: template.id, signerName: 'Signe', signedAt: paper });
    t.equal(late.statusCode, 201);
    t.match(late.json(), { signedAt: paper, recordedAt: clock.now().toISOString() });
  });

  t.test('withdrawal is a status, once', async (t) => {
    const first = await app.inject({
      method: 'POST',
      url: `${url}/${consent.id}/withdraw`,
      headers,
      payload: { reason: 'Changed her mind' },
    });
    t.equal(first.statusCode, 200, first.body);
    t.match(first.json(), { status: 'withdrawn', withdrawnAt: clock.now().toISOString() });
    const again = await app.inject({
      method: 'POST',
      url: `${url}/${consent.id}/withdraw`,
      headers,
      payload: { reason: 'Changed her mind' },
    });
    t.equal(again.statusCode, 409);
    const list = await app.inject({ method: 'GET', url, headers });
    t.ok(
      list
        .json<{ items: Json[] }>()
        .items.some((item) => item.id === consent.id && item.status === 'withdrawn'),
      'still listed, as withdrawn',
    );
    await t.rejects(db.pool.query('DELETE FROM consents WHERE id = $1', [consent.id]));
    await t.rejects(
      db.pool.query("UPDATE consents SET status = 'active', withdrawn_at = NULL WHERE id = $1", [
        consent.id,
      ]),
    );
  });

  t.test('another clinic: 404, audited; auditors and admins: 403', async (t) => {
    for (const request of [
      { method: 'GET' as const, url },
      { method: 'GET' as const, url: `${url}/${consent.id}` },
      {
        method: 'POST' as const,
        url,
        payload: { templateId: template.id, signerName: 'X' },
      },
    ]) {
      const res = await app.inject({ ...request, headers: outsider.headers });
      t.equal(res.statusCode, 404, `${request.method} ${request.url}`);
    }
    const denied = await db.pool.query<{ n: number }>(
      // (The second withdrawal above was refused and audited too; these are the scope refusals.)
      "SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1 AND outcome = 'denied' AND reason = 'clinic_scope'",
      [client.id],
    );
    t.equal(denied.rows[0]!.n, 3);
    t.equal(
      (await app.inject({ method: 'GET', url, headers: admin.headers })).statusCode,
      403,
      'admin does not read consents',
    );
  });

  t.test('canary: nothing personal readable in the consents table', async (t) => {
    const { rows } = await db.pool.query<{ text: string }>(
      'SELECT row_to_json(c)::text AS text FROM consents c',
    );
    const dump = rows.map((row) => row.text).join('\n');
    t.ok(dump.length > 100);
    for (const value of ['Kanarie-Qx81', 'Kanariepollen-Zq4', 'Changed her mind', signature]) {
      t.notOk(dump.includes(value), `${value.slice(0, 20)} not stored in clear`);
      t.notOk(dump.includes(Buffer.from(value).toString('hex')), 'nor as hex');
    }
  });
});
