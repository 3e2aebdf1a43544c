import sharp from 'sharp';
import t, { type Test } from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';
import { upload } from './multipart.js';

type Json = Record<string, unknown>;
const DAY_MS = 24 * 60 * 60 * 1000;

t.test('photo-consent rule and marketingAllowed (API.md "Attachments")', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const photo = await sharp({
    create: { width: 20, height: 10, channels: 3, background: { r: 1, g: 2, b: 3 } },
  })
    .jpeg()
    .toBuffer();
  const pdf = Buffer.from('%PDF-1.7\n% document\n%%EOF\n');
  const template = await publishTemplate(app, admin.headers, {
    key: 'photos',
    treatmentTypes: ['filler'],
    photoScopes: ['clinical', 'marketing'],
  });
  const shortLived = await publishTemplate(app, admin.headers, {
    key: 'photos-short',
    treatmentTypes: ['filler'],
    photoScopes: ['clinical', 'marketing'],
    validForDays: 1,
  });

  const newClient = async () =>
    (await makeClient(app, { clinicId: clinic, headers: reception.headers })).id;
  const sign = (clientId: string, photoScopes: string[], extra: Json = {}) =>
    signConsent(app, {
      clientId,
      templateId: template.id,
      headers: reception.headers,
      photoScopes,
      ...extra,
    });
  const withdraw = async (clientId: string, consentId: string) => {
    const res = await app.inject({
      method: 'POST',
      url: `/v1/clients/${clientId}/consents/${consentId}/withdraw`,
      headers: reception.headers,
      payload: { reason: 'The client withdrew' },
    });
    t.equal(res.statusCode, 200, res.body);
  };
  const post = (clientId: string, metadata: Json, content: Buffer) => {
    const body = upload(metadata, content);
    return app.inject({
      method: 'POST',
      url: `/v1/clients/${clientId}/attachments`,
      headers: { ...practitioner.headers, ...body.headers },
      payload: body.payload,
    });
  };
  const refusedAsMissing = async (t: Test, clientId: string, what: string) => {
    const res = await post(clientId, { kind: 'photo' }, photo);
    t.equal(res.statusCode, 409, `${what}: ${res.body}`);
    t.match(res.json(), { status: 409, rule: 'photo_consent_missing' });
    const stored = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM attachments WHERE client_id = $1',
      [clientId],
    );
    t.equal(stored.rows[0]!.n, 0, `${what}: nothing stored`);
    const audited = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'attachment.create'
         AND outcome = 'denied' AND client_id = $1 AND reason IS NOT NULL`,
      [clientId],
    );
    t.equal(audited.rows[0]!.n, 1, `${what}: the refusal is audited`);
  };

  await t.test('no consent at all: 409; documents need none', async (t) => {
    const clientId = await newClient();
    await refusedAsMissing(t, clientId, 'no consent');
    t.equal((await post(clientId, { kind: 'document' }, pdf)).statusCode, 201, 'a document');
  });

  await t.test('a consent without the clinical scope: 409', async (t) => {
    const clientId = await newClient();
    await sign(clientId, []);
    await sign(clientId, ['marketing']);
    await refusedAsMissing(t, clientId, 'marketing only');
  });

  await t.test('a withdrawn consent: 409', async (t) => {
    const clientId = await newClient();
    const consent = await sign(clientId, ['clinical']);
    t.equal((await post(clientId, { kind: 'photo' }, photo)).statusCode, 201, 'before');
    await withdraw(clientId, consent.id);
    const res = await post(clientId, { kind: 'photo' }, photo);
    t.equal(res.statusCode, 409);
    t.match(res.json(), { rule: 'photo_consent_missing' });
  });

  await t.test('an expired consent: 409', async (t) => {
    const clientId = await newClient();
    await signConsent(app, {
      clientId,
      templateId: shortLived.id,
      headers: reception.headers,
      photoScopes: ['clinical', 'marketing'],
      signedAt: new Date(Date.now() - 3 * DAY_MS).toISOString(),
    });
    await refusedAsMissing(t, clientId, 'expired');
  });

  await t.test('type and size come before the rule', async (t) => {
    const clientId = await newClient();
    const text = await post(clientId, { kind: 'photo' }, Buffer.from('plain text'));
    t.equal(text.statusCode, 415, 'type before the rule');
  });

  await t.test('marketingAllowed: computed at each read, flips after a withdrawal', async (t) => {
    const clientId = await newClient();
    const clinical = await sign(clientId, ['clinical']);
    const created = await post(clientId, { kind: 'photo' }, photo);
    t.equal(created.statusCode, 201, created.body);
    const { id, marketingAllowed } = created.json<{ id: string; marketingAllowed: boolean }>();
    t.equal(marketingAllowed, false, 'clinical only: false');
    const reads = async () => {
      const base = `/v1/clients/${clientId}/attachments`;
      const one = await app.inject({ url: `${base}/${id}`, headers: practitioner.headers });
      const list = await app.inject({ url: base, headers: practitioner.headers });
      return [
        one.json<Json>().marketingAllowed,
        ...list.json<{ items: Json[] }>().items.map((item) => item.marketingAllowed),
      ];
    };
    t.same(await reads(), [false, false]);
    const marketing = await sign(clientId, ['marketing']);
    t.same(await reads(), [true, true], 'a marketing consent: true at the next read');
    const second = await post(clientId, { kind: 'photo' }, photo);
    t.equal(second.json<Json>().marketingAllowed, true, 'the upload answer too');
    await withdraw(clientId, marketing.id);
    t.same(await reads(), [false, false, false], 'false again after the withdrawal');
    await withdraw(clientId, clinical.id);
    t.same(await reads(), [false, false, false], 'existing photos stay readable');
  });

  await t.test('a withdrawal committed while the upload waits on the consent: 409', async (t) => {
    const clientId = await newClient();
    const consent = await sign(clientId, ['clinical']);
    // A withdrawal in progress (as another session): the consent row is locked for update.
    const holder = await db.pool.connect();
    t.teardown(() => holder.release());
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM consents WHERE id = $1 FOR UPDATE', [consent.id]);
    let settled = false;
    const racing = post(clientId, { kind: 'photo' }, photo).finally(() => (settled = true));
    const waiting = async () =>
      Number(
        (
          await db.pool.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rows[0]!.n,
      );
    // (An upload that did not wait on the consent would settle first, with 201.)
    while (!settled && (await waiting()) < 1) await new Promise((r) => setImmediate(r));
    await holder.query(
      `UPDATE consents SET status = 'withdrawn', withdrawn_at = now() WHERE id = $1`,
      [consent.id],
    );
    await holder.query('COMMIT');
    const res = await racing;
    t.equal(res.statusCode, 409, 'the upload saw the withdrawal, not the consent before it');
    t.match(res.json(), { rule: 'photo_consent_missing' });
  });

  await t.test('a restricted client takes no new attachment', async (t) => {
    const clientId = await newClient();
    await sign(clientId, ['clinical']);
    const restrict = await app.inject({
      method: 'PUT',
      url: `/v1/clients/${clientId}/restriction`,
      headers: admin.headers,
      payload: { active: true, reason: 'accuracy disputed' },
    });
    t.equal(restrict.statusCode, 200, restrict.body);
    for (const kind of ['photo', 'document']) {
      const res = await post(clientId, { kind }, kind === 'photo' ? photo : pdf);
      t.equal(res.statusCode, 409, kind);
      t.match(res.json(), { rule: 'processing_restricted' });
    }
  });
});
