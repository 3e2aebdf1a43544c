/**
 * Retry-safe writes (API.md "Conventions", issue #17): every kind of client write replays
 * its first answer under the same Idempotency-Key, writes once, and audits the replay.
 */
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createClinic, fakeClock, login, loginAs } from '../helpers/auth.js';
import { clientPayload, makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

const HOUR = 3_600_000;
const FIRST_NAME = 'Idempotentia';

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
  const count = async (query: string, values: unknown[] = []) =>
    Number((await db.pool.query<{ n: string }>(query, values)).rows[0]!.n);
  const events = (action: string) =>
    count('SELECT count(*) AS n FROM audit_events WHERE action = $1', [action]);
  /** Sends the same request twice with one key; both answers. */
  const twice = async (request: {
    method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    url: string;
    headers: Record<string, string>;
    payload?: unknown;
    key?: string;
  }) => {
    const key = request.key ?? `k-${Math.random().toString(36).slice(2)}`;
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
  return { app, db, clock, clinic, admin, reception, practitioner, template, count, events, twice };
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

t.test('client create: replayed, one row, one create event and one replay event', async (t) => {
  const s = await setup(t);
  const before = await s.count('SELECT count(*) AS n FROM clients');
  const { first, second } = await s.twice({
    method: 'POST',
    url: '/v1/clients',
    headers: s.reception.headers,
    payload: clientPayload(s.clinic, { firstName: FIRST_NAME }),
  });
  sameAnswer(t, first, second, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM clients'), before + 1, 'one client');
  t.equal(await s.events('client.create'), 1, 'one create event');
  t.equal(await s.events('idempotency.replay'), 1, 'the replay audited');
  const dump = await s.db.pool.query<{ j: string }>(
    'SELECT row_to_json(k)::text AS j FROM idempotency_keys k',
  );
  t.equal(dump.rows.length, 1, 'one key row');
  t.notMatch(dump.rows[0]!.j, FIRST_NAME, 'no personal value in clear in the key row');
  t.notMatch(
    Buffer.from(JSON.stringify(dump.rows)).toString('hex'),
    Buffer.from(FIRST_NAME).toString('hex'),
    'nor in its bytes',
  );
});

t.test('the same key with another request: 422, nothing written', async (t) => {
  const s = await setup(t);
  const key = 'front-desk-1';
  const send = (firstName: string, url = '/v1/clients') =>
    s.app.inject({
      method: 'POST',
      url,
      headers: { ...s.reception.headers, 'idempotency-key': key },
      payload: clientPayload(s.clinic, { firstName }),
    });
  t.equal((await send('Anna')).statusCode, 201);
  const other = await send('Berit');
  t.equal(other.statusCode, 422, 'another body');
  t.equal(other.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.equal((await send('Anna', '/v1/clients?x=1')).statusCode, 422, 'another path (query)');
  t.equal(await s.count('SELECT count(*) AS n FROM clients'), 1, 'one client');
  // Scoped to the caller: another user's same key is another key.
  const colleague = await loginAs(s.app, { role: 'reception', clinicIds: [s.clinic] });
  const theirs = await s.app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: { ...colleague.headers, 'idempotency-key': key },
    payload: clientPayload(s.clinic, { firstName: 'Berit' }),
  });
  t.equal(theirs.statusCode, 201);
  t.equal(theirs.headers['idempotency-replayed'], undefined);
});

t.test('a 400 (or a 404) is not remembered; a bad key is a 400', async (t) => {
  const s = await setup(t);
  const key = 'retry-me';
  const send = (payload: object) =>
    s.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...s.reception.headers, 'idempotency-key': key },
      payload,
    });
  t.equal((await send({ ...clientPayload(s.clinic), dateOfBirth: 'yesterday' })).statusCode, 400);
  const otherClinic = await createClinic(s.app);
  t.equal((await send(clientPayload(otherClinic))).statusCode, 404);
  const ok = await send(clientPayload(s.clinic));
  t.equal(ok.statusCode, 201, 'the corrected request runs');
  t.equal(ok.headers['idempotency-replayed'], undefined, 'and is not a replay');
  for (const bad of ['', 'has space', 'x'.repeat(256), 'ø']) {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...s.reception.headers, 'idempotency-key': bad },
      payload: clientPayload(s.clinic),
    });
    t.equal(res.statusCode, 400, `key ${JSON.stringify(bad.slice(0, 10))}`);
  }
  t.equal(await s.count('SELECT count(*) AS n FROM clients'), 1);
});

t.test('concurrent duplicates never both write', async (t) => {
  const s = await setup(t);
  const send = (key: string) =>
    s.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...s.reception.headers, 'idempotency-key': key },
      payload: clientPayload(s.clinic),
    });
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all([send(`c-${round}`), send(`c-${round}`), send(`c-${round}`)]);
    const statuses = answers.map((res) => res.statusCode).sort();
    t.ok(
      statuses.every((status) => status === 201 || status === 409),
      `only 201 and 409: ${statuses.join(',')}`,
    );
    const fresh = answers.filter(
      (res) => res.statusCode === 201 && res.headers['idempotency-replayed'] === undefined,
    );
    t.equal(fresh.length, 1, 'exactly one wrote');
    for (const res of answers.filter((res) => res.statusCode === 409))
      t.equal(res.json<{ rule: string }>().rule, 'idempotency_in_progress');
  }
  t.equal(await s.count('SELECT count(*) AS n FROM clients'), 5, 'one client per key');
  t.equal(await s.events('client.create'), 5, 'one create event per key');
});

t.test('every kind of client write replays and writes once', async (t) => {
  const s = await setup(t);
  const client = await makeClient(s.app, { clinicId: s.clinic, headers: s.reception.headers });
  const base = `/v1/clients/${client.id}`;

  const patch = await s.twice({
    method: 'PATCH',
    url: base,
    headers: s.reception.headers,
    payload: { marketingOptIn: true },
  });
  sameAnswer(t, patch.first, patch.second, 200);
  t.equal(await s.events('client.update'), 1, 'one update event');
  t.equal(
    await s.count('SELECT count(*) AS n FROM client_marketing_events WHERE client_id = $1', [
      client.id,
    ]),
    2,
    'the create and one change',
  );

  const consent = await s.twice({
    method: 'POST',
    url: `${base}/consents`,
    headers: s.reception.headers,
    payload: {
      templateId: s.template.id,
      signerName: 'Test Signer',
      signedAt: new Date(s.clock.now().getTime() - 72 * HOUR).toISOString(),
    },
  });
  sameAnswer(t, consent.first, consent.second, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM consents'), 1, 'one consent');
  t.equal(await s.events('consent.create'), 1);

  const entry = await s.twice({
    method: 'POST',
    url: `${base}/journal`,
    headers: s.practitioner.headers,
    payload: {
      treatmentType: 'botox',
      performedAt: new Date(s.clock.now().getTime() - HOUR).toISOString(),
      notes: '20 U glabella',
      products: [{ name: 'Botox', batchNumber: 'C3456AB' }],
    },
  });
  sameAnswer(t, entry.first, entry.second, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM journal_entries'), 1, 'one entry');
  t.equal(await s.count('SELECT count(*) AS n FROM journal_products'), 1, 'one product index');
  t.equal(await s.events('journal.create'), 1);
  const entryId = entry.first.json<{ id: string }>().id;

  const amendment = await s.twice({
    method: 'POST',
    url: `${base}/journal/${entryId}/amendments`,
    headers: s.practitioner.headers,
    payload: { notes: '25 U glabella', reason: 'Dose mistyped' },
  });
  sameAnswer(t, amendment.first, amendment.second, 201);
  t.equal(await s.count('SELECT count(*) AS n FROM journal_amendments'), 1, 'one amendment');
  t.equal(await s.events('journal.amend'), 1);

  const consentId = consent.first.json<{ id: string }>().id;
  const withdraw = await s.twice({
    method: 'POST',
    url: `${base}/consents/${consentId}/withdraw`,
    headers: s.reception.headers,
    payload: { reason: 'Changed her mind' },
  });
  sameAnswer(t, withdraw.first, withdraw.second, 200);
  t.equal(await s.events('consent.withdraw'), 1, 'withdrawn once (no 409 for the retry)');

  const hold = await s.twice({
    method: 'PUT',
    url: `${base}/legal-hold`,
    headers: s.admin.headers,
    payload: { active: false, reason: 'none' },
  });
  sameAnswer(t, hold.first, hold.second, 200);
  t.equal(await s.events('client.legal_hold'), 1);

  t.equal(await s.events('idempotency.replay'), 6, 'each replay audited');
  t.equal(await s.count('SELECT count(*) AS n FROM idempotency_keys'), 6);
});

t.test('erasure replays its 204 and forgets the client’s keys', async (t) => {
  const s = await setup(t);
  const createKey = 'create-1';
  const create = await s.twice({
    method: 'POST',
    url: '/v1/clients',
    headers: s.reception.headers,
    payload: clientPayload(s.clinic),
    key: createKey,
  });
  t.equal(create.first.statusCode, 201);
  const id = create.first.json<{ id: string }>().id;
  const erase = await s.twice({
    method: 'DELETE',
    url: `/v1/clients/${id}`,
    headers: s.admin.headers,
    payload: { reason: 'Asked to be forgotten' },
  });
  sameAnswer(t, erase.first, erase.second, 204);
  t.equal(await s.events('client.erase'), 1, 'erased once');
  t.equal(
    await s.count('SELECT count(*) AS n FROM idempotency_keys WHERE client_id = $1', [id]),
    0,
    "the client's key rows are gone",
  );
  const again = await s.app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: { ...s.reception.headers, 'idempotency-key': createKey },
    payload: clientPayload(s.clinic),
  });
  t.equal(again.statusCode, 201, 'the key answers as never used');
  t.equal(again.headers['idempotency-replayed'], undefined);
  t.not(again.json<{ id: string }>().id, id);
});

t.test('keys expire after 24 hours', async (t) => {
  const s = await setup(t);
  const send = (headers: Record<string, string>) =>
    s.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...headers, 'idempotency-key': 'daily' },
      payload: clientPayload(s.clinic),
    });
  t.equal((await send(s.reception.headers)).statusCode, 201);
  s.clock.advance(24 * HOUR + 1);
  const fresh = bearer(
    (await login(s.app, { username: s.reception.username, password: s.reception.password }))
      .accessToken,
  );
  const later = await send(fresh);
  t.equal(later.statusCode, 201);
  t.equal(later.headers['idempotency-replayed'], undefined, 'runs again');
  t.equal(await s.count('SELECT count(*) AS n FROM clients'), 2);
  t.equal(await s.count('SELECT count(*) AS n FROM idempotency_keys'), 1, 'the row taken over');
});

t.test('without a key nothing changes; signConsent factory still works', async (t) => {
  const s = await setup(t);
  const client = await makeClient(s.app, { clinicId: s.clinic, headers: s.reception.headers });
  await signConsent(s.app, {
    clientId: client.id,
    templateId: s.template.id,
    headers: s.reception.headers,
  });
  t.equal(await s.count('SELECT count(*) AS n FROM idempotency_keys'), 0);
});

t.test('ETag and If-Match on a client', async (t) => {
  const s = await setup(t);
  const client = await makeClient(s.app, { clinicId: s.clinic, headers: s.reception.headers });
  const url = `/v1/clients/${client.id}`;
  const read = await s.app.inject({ method: 'GET', url, headers: s.reception.headers });
  t.equal(read.statusCode, 200);
  const etag = read.headers.etag as string;
  t.match(etag, /^"\d+"$/, 'a strong ETag from the version counter');
  t.notMatch(etag, /Test|Client|example/, 'no personal value in it');

  const patch = (ifMatch: string | undefined, payload: object) =>
    s.app.inject({
      method: 'PATCH',
      url,
      headers: {
        ...s.reception.headers,
        ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }),
      },
      payload,
    });
  const first = await patch(etag, { firstName: 'Changed' });
  t.equal(first.statusCode, 200, 'a current If-Match');
  const next = first.headers.etag as string;
  t.not(next, etag, 'the ETag moves with each change');

  const stale = await patch(etag, { firstName: 'Overwritten' });
  t.equal(stale.statusCode, 412, 'a stale If-Match');
  t.equal(stale.headers['content-type'], 'application/problem+json; charset=utf-8');
  const after = await s.app.inject({ method: 'GET', url, headers: s.reception.headers });
  t.equal(after.json<{ firstName: string }>().firstName, 'Changed', 'nothing changed');
  t.equal(after.headers.etag, next);
  t.equal(await s.events('client.update'), 1, 'one update');

  t.equal((await patch('*', { lastName: 'Star' })).statusCode, 200, '* matches any');
  t.equal(
    (await patch(`"0", ${after.headers.etag as string}`, { lastName: 'L' })).statusCode,
    412,
    'the list has no current tag any more',
  );
  t.equal(
    (await patch(undefined, { lastName: 'Free' })).statusCode,
    200,
    'without If-Match as before',
  );
  t.equal(
    (await patch('W/' + (after.headers.etag as string), { lastName: 'W' })).statusCode,
    412,
    'a weak tag never matches',
  );
});

t.test('additions to an entry (statement, entered-in-error) replay and write once', async (t) => {
  const s = await setup(t);
  const client = await makeClient(s.app, { clinicId: s.clinic, headers: s.reception.headers });
  await signConsent(s.app, {
    clientId: client.id,
    templateId: s.template.id,
    headers: s.reception.headers,
    signedAt: new Date(s.clock.now().getTime() - 72 * HOUR).toISOString(),
  });
  const entry = await writeEntry(s.app, {
    clientId: client.id,
    headers: s.practitioner.headers,
    treatmentType: 'botox',
  });
  const base = `/v1/clients/${client.id}/journal/${entry.id}`;

  const statement = await s.twice({
    method: 'POST',
    url: `${base}/statements`,
    headers: s.reception.headers,
    payload: { text: 'I was not told about the swelling.' },
  });
  sameAnswer(t, statement.first, statement.second, 201);
  t.equal(
    await s.count('SELECT count(*) AS n FROM journal_statements WHERE entry_id = $1', [entry.id]),
    1,
    'one statement',
  );
  t.equal(await s.events('journal.statement'), 1, 'one statement event');

  const marked = await s.twice({
    method: 'POST',
    url: `${base}/entered-in-error`,
    headers: s.practitioner.headers,
    payload: { reason: 'Written on the wrong client' },
  });
  sameAnswer(t, marked.first, marked.second, 200);
  t.equal(
    await s.count('SELECT count(*) AS n FROM journal_entry_errors WHERE entry_id = $1', [entry.id]),
    1,
    'marked once',
  );
  t.equal(await s.events('journal.entered_in_error'), 1, 'one event');
  t.equal(await s.events('idempotency.replay'), 2, 'each replay audited');
});
