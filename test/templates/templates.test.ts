import { createHash } from 'node:crypto';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';

interface TemplateJson {
  id: string;
  key: string;
  version: number;
  bodyHash: string;
  body: string;
  createdBy: string;
  treatmentTypes: string[];
}

const body = (key: string, overrides: Record<string, unknown> = {}) => ({
  key,
  title: 'Botulinum toxin treatment',
  body: 'Jeg giver samtykke til behandling med botulinumtoksin. Æøå.',
  treatmentTypes: ['Botox', 'botox', 'filler'],
  language: 'da',
  minimumAge: 18,
  coolingOffHours: 48,
  ...overrides,
});

t.test('templates: versions, body hash, immutability, roles', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });

  const publish = (payload: Record<string, unknown>, headers = admin.headers) =>
    app.inject({ method: 'POST', url: '/v1/consent-templates', headers, payload });

  const first = await publish(body('botox'));
  t.equal(first.statusCode, 201, first.body);
  const v1 = first.json<TemplateJson>();
  t.equal(v1.version, 1);
  t.equal(v1.createdBy, admin.id);
  t.same(v1.treatmentTypes, ['botox', 'filler'], 'treatment types lower-cased, once each');
  t.equal(
    v1.bodyHash,
    createHash('sha256').update(Buffer.from(v1.body, 'utf8')).digest('hex'),
    'bodyHash is the SHA-256 of the body',
  );

  const second = await publish(body('botox', { body: 'Version two.' }));
  t.equal(second.json<TemplateJson>().version, 2);
  const other = await publish(body('filler'));
  t.equal(other.json<TemplateJson>().version, 1, 'versions count per key');

  const concurrent = await Promise.all(
    Array.from({ length: 6 }, (_, i) => publish(body('concurrent', { body: `text ${i}` }))),
  );
  t.same(
    concurrent.map((res) => res.statusCode),
    Array(6).fill(201),
  );
  t.same(
    concurrent.map((res) => res.json<TemplateJson>().version).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6],
    'concurrent publishes take distinct versions',
  );

  const list = await app.inject({
    method: 'GET',
    url: '/v1/consent-templates',
    headers: reception.headers,
  });
  t.equal(list.statusCode, 200);
  const latest = list.json<{ items: TemplateJson[]; nextCursor: string | null }>();
  t.same(
    latest.items.map((item) => `${item.key}@${item.version}`).sort(),
    ['botox@2', 'concurrent@6', 'filler@1'],
    'the latest version of each key',
  );
  const paged = await app.inject({
    method: 'GET',
    url: '/v1/consent-templates?limit=2',
    headers: reception.headers,
  });
  const page1 = paged.json<{ items: TemplateJson[]; nextCursor: string | null }>();
  t.equal(page1.items.length, 2);
  t.type(page1.nextCursor, 'string');
  const page2 = await app.inject({
    method: 'GET',
    url: `/v1/consent-templates?limit=2&cursor=${page1.nextCursor}`,
    headers: reception.headers,
  });
  t.equal(page2.json<{ items: unknown[] }>().items.length, 1);

  const read = await app.inject({
    method: 'GET',
    url: `/v1/consent-templates/${v1.id}`,
    headers: reception.headers,
  });
  t.equal(read.statusCode, 200);
  t.same(read.json(), v1, 'an old version stays readable as published');

  t.equal(
    (await publish(body('x'), reception.headers)).statusCode,
    403,
    'reception cannot publish',
  );
  t.equal((await publish(body('x', { version: 9 }))).statusCode, 400, 'unknown property');
  t.equal((await publish(body('x', { treatmentTypes: [] }))).statusCode, 400);
  t.equal((await publish(body('Bad Key!'))).statusCode, 400);

  await t.rejects(
    db.pool.query("UPDATE consent_templates SET body = 'changed' WHERE id = $1", [v1.id]),
    /append-only/,
    'the database refuses to change a published version',
  );
  await t.rejects(
    db.pool.query('DELETE FROM consent_templates WHERE id = $1', [v1.id]),
    /append-only/,
  );
  const events = await db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_events WHERE action = 'template.publish'",
  );
  t.equal(events.rows[0]!.n, 9, 'every publish is audited');
});
