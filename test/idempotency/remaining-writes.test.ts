/**
 * Retry-safe writes, the rest of them (API.md "Conventions", issue #17): drafts,
 * countersignature, restriction, attachments, users, clinics, templates and MFA reset replay
 * their first answer under the same Idempotency-Key and write once; every write route under
 * /v1 (but /v1/auth/*) is idempotent, so a new one cannot forget it.
 */
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { upload } from '../attachments/multipart.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs, TEST_PASSWORD } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

const HOUR = 3_600_000;

async function setup(t: Test) {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const template = await publishTemplate(app, admin.headers, {
    key: 'botox',
    treatmentTypes: ['botox'],
  });
  const client = await makeClient(app, { clinicId: clinic, headers: reception.headers });
  await signConsent(app, {
    clientId: client.id,
    templateId: template.id,
    headers: reception.headers,
    signedAt: new Date(clock.now().getTime() - 72 * HOUR).toISOString(),
  });
  const count = async (query: string, values: unknown[] = []) =>
    Number((await db.pool.query<{ n: string }>(query, values)).rows[0]!.n);
  const events = (action: string) =>
    count('SELECT count(*) AS n FROM audit_events WHERE action = $1', [action]);
  const twice = async (request: {
    method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    url: string;
    headers: Record<string, string>;
    payload?: unknown;
  }) => {
    const key = `k-${Math.random().toString(36).slice(2)}`;
    const send = () =>
      app.inject({
        method: request.method,
        url: request.url,
        headers: { ...request.headers, 'idempotency-key': key },
        ...(request.payload === undefined ? {} : { payload: request.payload as object }),
      });
    const first = await send();
    const second = await send();
    return { first, second, key };
  };
  return { app, db, clock, clinic, admin, reception, practitioner, client, count, events, twice };
}

function sameAnswer(
  t: Test,
  first: LightMyRequestResponse,
  second: LightMyRequestResponse,
  status: number,
) {
  t.equal(first.statusCode, status, `first answer ${status}: ${first.body}`);
  t.equal(first.headers['idempotency-replayed'], undefined, 'the first is not a replay');
  t.equal(second.statusCode, status, 'the replay has the same status');
  t.equal(second.headers['idempotency-replayed'], 'true', 'the replay says so');
  t.equal(second.body, first.body, 'the replay has the same body');
}

t.test('every write under /v1 but /v1/auth/* is idempotent', async (t) => {
  const { app } = await buildTestApp(t);
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  }>();
  /** A route documented with no 2xx answer (entries and attachments: always 405) writes nothing. */
  const neverWrites = (method: string, url: string) => {
    const operation = document.paths[url.replace(/:([A-Za-z]+)/g, '{$1}')]?.[method.toLowerCase()];
    t.ok(operation, `${method} ${url} is documented`);
    return !Object.keys(operation?.responses ?? {}).some((status) => status.startsWith('2'));
  };
  // A search is a read sent as POST only to keep personal values out of the URL.
  const reads = new Set(['POST /v1/clients/search']);
  const writes = app.apiRoutes.filter(
    (route) =>
      ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method) &&
      route.url.startsWith('/v1/') &&
      !route.url.startsWith('/v1/auth/') &&
      !reads.has(`${route.method} ${route.url}`) &&
      !neverWrites(route.method, route.url),
  );
  t.ok(writes.length >= 20, `${writes.length} write routes`);
  for (const route of writes) t.ok(route.idempotent, `${route.method} ${route.url}`);
  const always405 = app.apiRoutes.filter((route) => neverWrites(route.method, route.url));
  t.equal(always405.length, 6, 'the six routes that always answer 405');
});

t.test('drafts: create, change, sign and delete replay and write once', async (t) => {
  const s = await setup(t);
  const base = `/v1/clients/${s.client.id}/journal-drafts`;
  const created = await s.twice({
    method: 'POST',
    url: base,
    headers: s.practitioner.headers,
    payload: { treatmentType: 'botox', notes: 'Glabella, 20 units' },
  });
  sameAnswer(t, created.first, created.second, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM journal_drafts'), 1, 'one draft');
  const draft = created.first.json<{ id: string }>();

  const changed = await s.twice({
    method: 'PATCH',
    url: `${base}/${draft.id}`,
    headers: s.practitioner.headers,
    payload: { performedAt: new Date(s.clock.now().getTime() - HOUR).toISOString() },
  });
  sameAnswer(t, changed.first, changed.second, 200);
  t.equal(await s.events('journal_draft.update'), 1, 'one update event');

  const signed = await s.twice({
    method: 'POST',
    url: `${base}/${draft.id}/sign`,
    headers: s.practitioner.headers,
  });
  sameAnswer(t, signed.first, signed.second, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM journal_entries'), 1, 'one entry');

  const other = await s.app.inject({
    method: 'POST',
    url: base,
    headers: s.practitioner.headers,
    payload: { treatmentType: 'botox' },
  });
  const removed = await s.twice({
    method: 'DELETE',
    url: `${base}/${other.json<{ id: string }>().id}`,
    headers: s.practitioner.headers,
  });
  sameAnswer(t, removed.first, removed.second, 204);
  t.equal(await s.events('journal_draft.delete'), 1, 'one delete event');
  t.equal(await s.events('idempotency.replay'), 4, 'each replay audited');
});

t.test('countersignature and restriction replay and write once', async (t) => {
  const s = await setup(t);
  const doctor = await loginAs(s.app, {
    role: 'practitioner',
    clinicIds: [s.clinic],
    authorisationId: '0013Q',
  });
  const entry = await writeEntry(s.app, {
    clientId: s.client.id,
    headers: s.practitioner.headers,
    treatmentType: 'botox',
    responsibleId: doctor.id,
  });
  const countersigned = await s.twice({
    method: 'POST',
    url: `/v1/clients/${s.client.id}/journal/${entry.id}/countersign`,
    headers: doctor.headers,
  });
  sameAnswer(t, countersigned.first, countersigned.second, 200);
  t.equal(await s.events('journal.countersign'), 1, 'one countersign event');

  const restricted = await s.twice({
    method: 'PUT',
    url: `/v1/clients/${s.client.id}/restriction`,
    headers: s.admin.headers,
    payload: { active: true, reason: 'Accuracy disputed by the client' },
  });
  sameAnswer(t, restricted.first, restricted.second, 200);
  t.equal(await s.events('client.restriction'), 1, 'one restriction event');
  const kept = await s.db.pool.query<{ j: string }>(
    'SELECT row_to_json(k)::text AS j FROM idempotency_keys k',
  );
  t.notMatch(kept.rows.map((row) => row.j).join(), /disputed/, 'no reason in clear');
});

t.test('an attachment upload replays; the key covers the multipart bytes', async (t) => {
  const s = await setup(t);
  const pdf = (marker: string) => Buffer.from(`%PDF-1.7\n% ${marker}\n%%EOF\n`);
  const send = (key: string, marker: string) => {
    const body = upload({ kind: 'document', caption: 'Referral letter' }, pdf(marker));
    return s.app.inject({
      method: 'POST',
      url: `/v1/clients/${s.client.id}/attachments`,
      headers: { ...s.practitioner.headers, ...body.headers, 'idempotency-key': key },
      payload: body.payload,
    });
  };
  const first = await send('upload-1', 'a');
  const second = await send('upload-1', 'a');
  // The boundary differs between the two bodies: the same bytes are another boundary away.
  t.equal(first.statusCode, 201, first.body);
  t.equal(second.statusCode, 422, 'another boundary is other bytes: 422');
  const fixed = upload({ kind: 'document' }, pdf('b'));
  const again = () =>
    s.app.inject({
      method: 'POST',
      url: `/v1/clients/${s.client.id}/attachments`,
      headers: { ...s.practitioner.headers, ...fixed.headers, 'idempotency-key': 'upload-2' },
      payload: fixed.payload,
    });
  const one = await again();
  const two = await again();
  sameAnswer(t, one, two, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM attachments'), 2, 'one row per upload');
  t.equal(await s.events('attachment.create'), 2, 'one create event per upload');

  // A body of many chunks: hashed beside the streaming reader, none lost to either.
  const bigFile = pdf('c'.repeat(700_000));
  const big = upload({ kind: 'document' }, bigFile);
  const sendBig = (payload: Buffer) =>
    s.app.inject({
      method: 'POST',
      url: `/v1/clients/${s.client.id}/attachments`,
      headers: { ...s.practitioner.headers, ...big.headers, 'idempotency-key': 'upload-big' },
      payload,
    });
  const bigFirst = await sendBig(big.payload);
  t.equal(bigFirst.statusCode, 201, bigFirst.body);
  t.equal(bigFirst.json<{ size: number }>().size, bigFile.length, 'every byte stored');
  const bigReplay = await sendBig(big.payload);
  t.equal(bigReplay.headers['idempotency-replayed'], 'true', 'the replay drained and matched');
  t.equal(bigReplay.body, bigFirst.body);
  const flipped = Buffer.from(big.payload);
  const at = flipped.length - 200;
  flipped.writeUInt8(flipped.readUInt8(at) ^ 1, at);
  t.equal((await sendBig(flipped)).statusCode, 422, 'one byte changed deep in the file: 422');
  t.equal(await s.count('SELECT count(*) AS n FROM attachments'), 3, 'one row for the big one');
});

t.test(
  'users, clinics, templates: only the resource id is kept; a replay re-reads it',
  async (t) => {
    const s = await setup(t);
    const user = await s.twice({
      method: 'POST',
      url: '/v1/users',
      headers: s.admin.headers,
      payload: {
        username: 'dr.replay',
        password: TEST_PASSWORD,
        role: 'practitioner',
        displayName: 'Dr. Replaysen',
        clinicIds: [s.clinic],
      },
    });
    sameAnswer(t, user.first, user.second, 201);
    t.equal(
      await s.count("SELECT count(*) AS n FROM users WHERE username = 'dr.replay'"),
      1,
      'one user',
    );
    const userId = user.first.json<{ id: string }>().id;
    const changed = await s.twice({
      method: 'PATCH',
      url: `/v1/users/${userId}`,
      headers: s.admin.headers,
      payload: { displayName: 'Dr. Twice' },
    });
    sameAnswer(t, changed.first, changed.second, 200);
    t.equal(await s.events('user.update'), 1, 'one update event');

    const clinic = await s.twice({
      method: 'POST',
      url: '/v1/clinics',
      headers: s.admin.headers,
      payload: { name: 'Klinik Replay' },
    });
    sameAnswer(t, clinic.first, clinic.second, 201);
    t.equal(await s.events('clinic.create'), 1, 'one create event');
    t.equal(await s.events('clinic.read'), 1, 'the replay re-read the clinic, audited');

    const template = await s.twice({
      method: 'POST',
      url: '/v1/consent-templates',
      headers: s.admin.headers,
      payload: {
        key: 'laser',
        title: 'Laser',
        body: 'I consent.',
        language: 'da',
        treatmentTypes: ['laser'],
      },
    });
    sameAnswer(t, template.first, template.second, 201);
    t.equal(
      await s.count("SELECT count(*) AS n FROM consent_templates WHERE key = 'laser'"),
      1,
      'one version',
    );

    const reset = await s.twice({
      method: 'POST',
      url: `/v1/users/${userId}/mfa/reset`,
      headers: s.admin.headers,
    });
    sameAnswer(t, reset.first, reset.second, 204);
    t.equal(await s.events('auth.mfa.reset'), 1, 'one reset event');

    const rows = await s.db.pool.query<{ j: string; resource: string | null; enc: Buffer | null }>(
      `SELECT row_to_json(k)::text AS j, resource_id AS resource, response_enc AS enc
       FROM idempotency_keys k WHERE client_id IS NULL`,
    );
    t.equal(rows.rows.length, 5, 'one key row per write');
    t.ok(
      rows.rows.every((row) => row.enc === null),
      'no answer body kept for a write of no client',
    );
    t.notMatch(rows.rows.map((row) => row.j).join(), /Replay|Twice|dr\.replay|I consent/);
    t.equal(rows.rows.filter((row) => row.resource !== null).length, 4, 'the resource ids');
    t.equal(await s.events('idempotency.replay'), 5, 'each replay audited');
  },
);

t.test('a 400 is not remembered: a corrected retry with the key runs', async (t) => {
  const s = await setup(t);
  const send = (name: unknown) =>
    s.app.inject({
      method: 'POST',
      url: '/v1/clinics',
      headers: { ...s.admin.headers, 'idempotency-key': 'clinic-key' },
      payload: { name },
    });
  t.equal((await send('')).statusCode, 400, 'invalid');
  const fixed = await send('Klinik Syd');
  t.equal(fixed.statusCode, 201, 'the same key with a corrected body is not 422');
  t.equal(fixed.headers['idempotency-replayed'], undefined);
  t.equal((await send('Klinik Vest')).statusCode, 422, 'now the key is taken');
});

t.test('concurrent duplicates of a write of no client never both write', async (t) => {
  const s = await setup(t);
  const send = () =>
    s.app.inject({
      method: 'POST',
      url: '/v1/consent-templates',
      headers: { ...s.admin.headers, 'idempotency-key': 'publish-once' },
      payload: {
        key: 'peel',
        title: 'Peel',
        body: 'I consent to a chemical peel.',
        language: 'da',
        treatmentTypes: ['peel'],
      },
    });
  const answers = await Promise.all([send(), send(), send()]);
  const statuses = answers.map((answer) => answer.statusCode).sort();
  t.ok(
    statuses.every((status) => status === 201 || status === 409),
    `201 or 409 (still running): ${statuses.join(',')}`,
  );
  t.ok(statuses.includes(201), 'one of them wrote');
  t.equal(
    await s.count("SELECT count(*) AS n FROM consent_templates WHERE key = 'peel'"),
    1,
    'one version, not one per duplicate',
  );
  const retry = await send();
  t.equal(retry.statusCode, 201);
  t.equal(retry.headers['idempotency-replayed'], 'true', 'a later retry replays');
  t.equal(retry.json<{ version: number }>().version, 1);
});

t.test('an upload route given a JSON body with a key: 400, not remembered', async (t) => {
  const s = await setup(t);
  const res = await s.app.inject({
    method: 'POST',
    url: `/v1/clients/${s.client.id}/attachments`,
    headers: { ...s.practitioner.headers, 'idempotency-key': 'not-multipart' },
    payload: { kind: 'document' },
  });
  t.equal(res.statusCode, 400);
  t.equal(await s.count('SELECT count(*) AS n FROM idempotency_keys'), 0, 'nothing kept');
});

t.test('an upload replayed after its client lost its data key: 404, no hang', async (t) => {
  const s = await setup(t);
  const body = upload({ kind: 'document' }, Buffer.from('%PDF-1.7\n% shredded\n%%EOF\n'));
  const send = () =>
    s.app.inject({
      method: 'POST',
      url: `/v1/clients/${s.client.id}/attachments`,
      headers: { ...s.practitioner.headers, ...body.headers, 'idempotency-key': 'shredded' },
      payload: body.payload,
    });
  t.equal((await send()).statusCode, 201);
  // Crypto-shredding without the rest of the erasure: the key row is still there.
  t.ok(await s.app.keys.destroy(s.app.db, s.client.id));
  const again = await send();
  t.equal(again.statusCode, 404, again.body);
  t.equal(again.headers['idempotency-replayed'], undefined);
});

t.test('a keyed upload over a real socket: streamed, hashed, replayed', async (t) => {
  const s = await setup(t);
  const address = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const body = upload({ kind: 'document' }, Buffer.from(`%PDF-1.7\n% ${'s'.repeat(300_000)}\n`));
  const send = () =>
    fetch(`${address}/v1/clients/${s.client.id}/attachments`, {
      method: 'POST',
      headers: { ...s.practitioner.headers, ...body.headers, 'idempotency-key': 'socket' },
      body: body.payload,
      signal: AbortSignal.timeout(10_000),
    });
  const first = await send();
  const firstBody = await first.text();
  t.equal(first.status, 201, firstBody);
  const second = await send();
  t.equal(second.status, 201);
  t.equal(second.headers.get('idempotency-replayed'), 'true');
  t.equal(await second.text(), firstBody, 'the same answer');
  t.equal(await s.count('SELECT count(*) AS n FROM attachments'), 1, 'one upload stored');
});
