/**
 * Bad input never answers 500 (API.md "Conventions", issue #16): control characters, JSON
 * nested too deep, dates outside 1900–9999, numbers past 2^53 − 1, and reads that race an
 * erasure. Each case below answered 500 (or stored the value) before.
 */
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

function refused(t: Test, res: LightMyRequestResponse, path: string | RegExp, what: string) {
  t.equal(res.statusCode, 400, `${what}: 400`);
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem details`);
  const errors = (res.json<{ errors?: { path: string }[] }>().errors ?? []).map((e) => e.path);
  t.ok(
    errors.some((p) => (typeof path === 'string' ? p === path : path.test(p))),
    `${what}: names ${String(path)} (${errors.join(', ')})`,
  );
}

t.test('control characters are refused with 400, never stored or answered 500', async (t) => {
  const { app } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinicId] });
  const post = (url: string, headers: Record<string, string>, payload: unknown) =>
    app.inject({ method: 'POST', url, headers, payload: payload as Record<string, unknown> });

  refused(
    t,
    await post('/v1/clinics', admin.headers, { name: 'a\u0000b' }),
    'body.name',
    'NUL in a clinic name',
  );
  refused(
    t,
    await post('/v1/clinics', admin.headers, { name: 'a\tb' }),
    'body.name',
    'tab in a clinic name',
  );
  refused(
    t,
    await post('/v1/clinics', admin.headers, { name: 'a\u0085b' }),
    'body.name',
    'C1 in a clinic name',
  );
  refused(
    t,
    await post('/v1/clinics', admin.headers, { name: 'a\u007fb' }),
    'body.name',
    'DEL in a clinic name',
  );

  const template = { key: 'peel', language: 'da', treatmentTypes: ['peel'] };
  refused(
    t,
    await post('/v1/consent-templates', admin.headers, {
      ...template,
      title: 'a\u0000',
      body: 'b',
    }),
    'body.title',
    'NUL in a template title',
  );
  refused(
    t,
    await post('/v1/consent-templates', admin.headers, { ...template, title: 'a\nb', body: 'b' }),
    'body.title',
    'LF in a template title',
  );
  refused(
    t,
    await post('/v1/consent-templates', admin.headers, {
      ...template,
      title: 'a',
      body: 'b\u0000',
    }),
    'body.body',
    'NUL in a template body',
  );
  const multiLine = await post('/v1/consent-templates', admin.headers, {
    ...template,
    title: 'Peel',
    body: 'Line one\r\n\tLine two\n',
  });
  t.equal(multiLine.statusCode, 201, 'tab, CR and LF in free text (a template body) are fine');

  refused(
    t,
    await post('/v1/users', admin.headers, {
      username: 'new.user',
      password: 'a long enough password',
      role: 'reception',
      displayName: 'Name\u0000',
      clinicIds: [clinicId],
    }),
    'body.displayName',
    'NUL in a display name',
  );

  const client = await makeClient(app, { clinicId, headers: reception.headers });
  const botox = await publishTemplate(app, admin.headers, {
    key: 'botox',
    treatmentTypes: ['botox'],
  });
  const consents = `/v1/clients/${client.id}/consents`;
  refused(
    t,
    await post(consents, reception.headers, { templateId: botox.id, signerName: 'X\u0000' }),
    'body.signerName',
    'NUL in a signer name',
  );
  refused(
    t,
    await post(consents, reception.headers, {
      templateId: botox.id,
      signerName: 'X',
      answers: { note: 'ok\u0000' },
    }),
    'body.answers.note',
    'NUL in an answer',
  );
  refused(
    t,
    await post(consents, reception.headers, {
      templateId: botox.id,
      signerName: 'X',
      answers: { 'k\u0001': true },
    }),
    'body.answers',
    'a control character in an answer key',
  );
  const answered = await post(consents, reception.headers, {
    templateId: botox.id,
    signerName: 'X',
    answers: { allergies: 'none\nknown' },
  });
  t.equal(answered.statusCode, 201, 'LF in an answer (free text) is fine');

  refused(
    t,
    await post('/v1/clients/search', reception.headers, { email: 'a\u0000@example.dk' }),
    'body.email',
    'NUL in a search',
  );
  const entry = `/v1/clients/${client.id}/journal`;
  refused(
    t,
    await post(entry, practitioner.headers, {
      treatmentType: 'botox',
      performedAt: '2026-01-01T10:00:00Z',
      notes: 'x',
      treatedAreas: ['a\tb'],
    }),
    'body.treatedAreas.0',
    'tab in a treated area',
  );
  refused(
    t,
    await app.inject({
      method: 'GET',
      url: `/v1/recalls?batchNumber=${encodeURIComponent('AB\u0000')}`,
      headers: practitioner.headers,
    }),
    'querystring.batchNumber',
    'NUL in a query parameter',
  );
  refused(
    t,
    await app.inject({
      method: 'GET',
      url: `/v1/clients/${client.id}`,
      headers: { ...reception.headers, 'user-agent': 'agent\u0085' },
    }),
    'headers.user-agent',
    'C1 in a header',
  );

  const { rows } = await app.pool.query<{ n: string }>(
    "SELECT count(*) AS n FROM clinics WHERE name ~ '[[:cntrl:]]'",
  );
  t.equal(rows[0]!.n, '0', 'no clinic name with a control character was stored');
});

t.test('a login with a control character is a failed login: audited, throttled, 400', async (t) => {
  const { app } = await buildTestApp(t);
  const attempt = () =>
    app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'a\u0000b', password: 'some password here' },
      remoteAddress: '10.9.9.9',
    });
  const first = await attempt();
  refused(t, first, 'body.username', 'NUL in a username');
  const { rows } = await app.pool.query<{ outcome: string; reason: string }>(
    "SELECT outcome, reason FROM audit_events WHERE action = 'auth.login'",
  );
  t.same(rows, [{ outcome: 'failure', reason: 'bad_input' }], 'audited as a failed login');
  let last = first;
  for (let i = 0; i < 10 && last.statusCode !== 429; i += 1) last = await attempt();
  t.equal(last.statusCode, 429, 'counted by the throttle: refused with 429 in the end');
  t.ok(last.headers['retry-after'], 'with Retry-After');
});

t.test('JSON nested deeper than 32 levels is refused before anything walks it', async (t) => {
  const { app } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const client = await makeClient(app, { clinicId, headers: reception.headers });
  const botox = await publishTemplate(app, admin.headers, {
    key: 'botox',
    treatmentTypes: ['botox'],
  });
  const raw = (answers: string) =>
    app.inject({
      method: 'POST',
      url: `/v1/clients/${client.id}/consents`,
      headers: { ...reception.headers, 'content-type': 'application/json' },
      payload: `{"templateId":"${botox.id}","signerName":"X","answers":{"a":${answers}}}`,
    });
  const huge = await raw('['.repeat(300_000) + ']'.repeat(300_000));
  refused(t, huge, 'body', '~600 KB of brackets');
  t.match(huge.json(), { errors: [{ message: /32 levels/ }] });
  // The body is level 1, answers 2, the first array 3: 31 arrays make 33.
  refused(t, await raw('['.repeat(31) + ']'.repeat(31)), 'body', '33 levels');
  // Brackets inside strings do not count.
  const inString = await raw(`"${'['.repeat(100)}"`);
  t.equal(inString.statusCode, 201, 'brackets inside a string are text');
});

t.test('dates and date-times outside 1900–9999 answer 400', async (t) => {
  const { app } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [clinicId] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinicId] });
  const get = (url: string) => app.inject({ method: 'GET', url, headers: auditor.headers });
  refused(
    t,
    await get('/v1/audit-events?from=0000-01-01T00:00:00Z'),
    'querystring.from',
    'from year 0',
  );
  refused(t, await get('/v1/audit-events?to=1899-12-31T23:59:59Z'), 'querystring.to', 'to 1899');
  refused(
    t,
    await get('/v1/audit-events/export?from=0000-01-01T00:00:00Z'),
    'querystring.from',
    'export from year 0',
  );
  refused(
    t,
    await get(`/v1/audit-events?to=${encodeURIComponent('9999-12-31T23:30:00-01:00')}`),
    'querystring.to',
    'past 9999 in UTC',
  );
  refused(
    t,
    await get('/v1/audit-events/verify?from=0000-01-01T00:00:00Z'),
    'querystring.from',
    'verify from year 0',
  );
  t.equal(
    (await get('/v1/audit-events?from=1900-01-01T00:00:00Z')).statusCode,
    200,
    '1900 is fine',
  );
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const client = await makeClient(app, { clinicId, headers: reception.headers });
  refused(
    t,
    await app.inject({
      method: 'POST',
      url: `/v1/clients/${client.id}/journal`,
      headers: practitioner.headers,
      payload: { treatmentType: 'botox', performedAt: '0000-01-01T00:00:00Z', notes: 'x' },
    }),
    'body.performedAt',
    'performedAt year 0',
  );
});

t.test('numbers past 2^53 − 1 and forged cursors answer 400', async (t) => {
  const { app } = await buildTestApp(t);
  const auditor = await loginAs(app, { role: 'auditor' });
  const get = (url: string) => app.inject({ method: 'GET', url, headers: auditor.headers });
  refused(
    t,
    await get(`/v1/audit-events/verify?head=9007199254740993:${'a'.repeat(64)}`),
    'querystring.head',
    'a head position past 2^53 − 1',
  );
  const forged = Buffer.from('0000-01-01T00:00:00Z|01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f').toString(
    'base64url',
  );
  refused(
    t,
    await get(`/v1/audit-events?cursor=${forged}`),
    'querystring.cursor',
    'a cursor of year 0',
  );
});

t.test(
  'a list, search or recall racing an erasure leaves the client out; a read is 404',
  async (t) => {
    const { app } = await buildTestApp(t);
    const clinicId = await createClinic(app);
    const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
    const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
    const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinicId] });
    const template = await publishTemplate(app, admin.headers, {
      key: 'botox',
      treatmentTypes: ['botox'],
    });
    const kept = await makeClient(app, {
      clinicId,
      headers: reception.headers,
      email: 'kept@example.dk',
    });
    const gone = await makeClient(app, {
      clinicId,
      headers: reception.headers,
      email: 'gone@example.dk',
    });
    for (const client of [kept, gone]) {
      await signConsent(app, {
        clientId: client.id,
        templateId: template.id,
        headers: reception.headers,
        signedAt: new Date(app.clock().getTime() - 3 * 86_400_000).toISOString(),
      });
      await writeEntry(app, {
        clientId: client.id,
        headers: practitioner.headers,
        treatmentType: 'botox',
        products: [{ name: 'Botox', batchNumber: 'RACE1' }],
      });
    }
    // The moment inside an erasure's race: the key is destroyed, the row not yet marked erased
    // (what a list that read its rows just before the erasure committed goes on to open).
    await app.keys.destroy(app.db, gone.id);

    const list = await app.inject({
      method: 'GET',
      url: `/v1/clients?clinicId=${clinicId}`,
      headers: reception.headers,
    });
    t.equal(list.statusCode, 200, 'list: 200');
    t.same(
      list.json<{ items: { id: string }[] }>().items.map((c) => c.id),
      [kept.id],
      'list: the erased client is left out',
    );
    const search = await app.inject({
      method: 'POST',
      url: '/v1/clients/search',
      headers: reception.headers,
      payload: { email: 'gone@example.dk' },
    });
    t.equal(search.statusCode, 200, 'search: 200');
    t.same(search.json(), { items: [] }, 'search: nothing');
    const recall = await app.inject({
      method: 'GET',
      url: '/v1/recalls?batchNumber=RACE1',
      headers: practitioner.headers,
    });
    t.equal(recall.statusCode, 200, 'recall: 200');
    t.same(
      recall.json<{ items: { clientId: string }[] }>().items.map((c) => c.clientId),
      [kept.id],
      'recall: the erased client is left out',
    );
    for (const url of [`/v1/clients/${gone.id}`]) {
      const res = await app.inject({ method: 'GET', url, headers: reception.headers });
      t.equal(res.statusCode, 404, `${url}: 404`);
    }
    const journal = await app.inject({
      method: 'GET',
      url: `/v1/clients/${gone.id}/journal`,
      headers: practitioner.headers,
    });
    t.equal(journal.statusCode, 404, 'journal: 404');
  },
);
