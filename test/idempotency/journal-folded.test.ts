/**
 * The keyed journal write claims its Idempotency-Key in the write's one statement
 * (`config.idempotentFolded`, issue #17's cost clause): no look-up before the handler; the
 * key's row answers (a replay or a 422) only when the handler failed. These prove that path
 * keeps every guarantee of API.md "Conventions": replay, 422, no memory of a refusal, never
 * two writes under concurrency, and the key row, the entry and its event all or nothing.
 */
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';

const HOUR = 3_600_000;

async function setup(t: Test, { consent = true } = {}) {
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
  const sign = () =>
    signConsent(app, {
      clientId: client.id,
      templateId: template.id,
      headers: reception.headers,
      signedAt: new Date(clock.now().getTime() - 72 * HOUR).toISOString(),
    });
  const consentId = consent ? (await sign()).id : undefined;
  const count = async (query: string, values: unknown[] = []) =>
    Number((await db.pool.query<{ n: string }>(query, values)).rows[0]!.n);
  const events = (action: string) =>
    count('SELECT count(*) AS n FROM audit_events WHERE action = $1', [action]);
  const rows = async () => ({
    entries: await count('SELECT count(*) AS n FROM journal_entries'),
    products: await count('SELECT count(*) AS n FROM journal_products'),
    keys: await count('SELECT count(*) AS n FROM idempotency_keys'),
    creates: await count(
      "SELECT count(*) AS n FROM audit_events WHERE action = 'journal.create' AND outcome = 'success'",
    ),
  });
  const payload = {
    treatmentType: 'botox',
    performedAt: new Date(clock.now().getTime() - HOUR).toISOString(),
    notes: '20 U glabella',
    products: [{ name: 'Botox', batchNumber: 'C3456AB' }],
  };
  const write = (key: string, body: object = payload): Promise<LightMyRequestResponse> =>
    app.inject({
      method: 'POST',
      url: `/v1/clients/${client.id}/journal`,
      headers: { ...practitioner.headers, 'idempotency-key': key },
      payload: body,
    });
  return { app, db, client, reception, consentId, sign, count, events, rows, payload, write };
}

function fresh(t: Test, res: LightMyRequestResponse, what: string) {
  t.equal(res.statusCode, 201, `${what}: 201 (${res.body.slice(0, 200)})`);
  t.equal(res.headers['idempotency-replayed'], undefined, `${what}: written, not replayed`);
}

function replayOf(t: Test, res: LightMyRequestResponse, first: LightMyRequestResponse) {
  t.equal(res.statusCode, 201, `a replay answers the first status (${res.body.slice(0, 200)})`);
  t.equal(res.headers['idempotency-replayed'], 'true', 'and says it is a replay');
  t.equal(res.body, first.body, 'with the first body');
}

t.test('replay, 422, and a replay even when a rule would now refuse the write', async (t) => {
  const s = await setup(t);
  const first = await s.write('visit-1');
  fresh(t, first, 'the first write');
  t.same(await s.rows(), { entries: 1, products: 1, keys: 1, creates: 1 }, 'one of each');

  replayOf(t, await s.write('visit-1'), first);
  t.equal(await s.events('idempotency.replay'), 1, 'the replay is audited');

  const other = await s.write('visit-1', { ...s.payload, notes: '25 U glabella' });
  t.equal(other.statusCode, 422, 'another body under the key');
  t.equal(other.headers['idempotency-replayed'], undefined);

  // The consent is withdrawn: a new write is refused (409), but the retry of the one that
  // was written answers as it did (the handler's refusal gives way to the key's row).
  const withdrawn = await s.app.inject({
    method: 'POST',
    url: `/v1/clients/${s.client.id}/consents/${s.consentId}/withdraw`,
    headers: s.reception.headers,
    payload: { reason: 'Changed her mind' },
  });
  t.equal(withdrawn.statusCode, 200, 'consent withdrawn');
  replayOf(t, await s.write('visit-1'), first);
  const refused = await s.write('visit-2');
  t.equal(refused.statusCode, 409, 'a new key is refused by the rule');
  t.equal(refused.json<{ rule: string }>().rule, 'consent_withdrawn');
  t.equal(
    (await s.write('visit-1', { ...s.payload, notes: 'other' })).statusCode,
    422,
    'another body under the used key is still a 422 (not the rule’s 409)',
  );

  t.same(await s.rows(), { entries: 1, products: 1, keys: 1, creates: 1 }, 'still one of each');
  t.equal(await s.events('idempotency.replay'), 2, 'each replay audited, nothing else');
});

t.test('a refused keyed write is not remembered: its retry writes', async (t) => {
  const s = await setup(t, { consent: false });
  const refused = await s.write('visit-1');
  t.equal(refused.statusCode, 409, 'no consent yet');
  t.equal(refused.json<{ rule: string }>().rule, 'consent_missing');
  t.same(await s.rows(), { entries: 0, products: 0, keys: 0, creates: 0 }, 'nothing kept');

  await s.sign();
  const retry = await s.write('visit-1');
  fresh(t, retry, 'the retry under the same key');
  t.same(await s.rows(), { entries: 1, products: 1, keys: 1, creates: 1 }, 'one of each');
  t.equal(await s.events('idempotency.replay'), 0, 'no replay');
});

t.test('concurrent duplicates never both write; the others replay (or 409)', async (t) => {
  const s = await setup(t);
  for (let round = 0; round < 5; round++) {
    const key = `dup-${round}`;
    const answers = await Promise.all([s.write(key), s.write(key), s.write(key), s.write(key)]);
    const written = answers.filter(
      (res) => res.statusCode === 201 && res.headers['idempotency-replayed'] === undefined,
    );
    t.equal(written.length, 1, `round ${round}: exactly one wrote`);
    for (const res of answers) {
      if (res === written[0]) continue;
      if (res.statusCode === 409) {
        t.equal(res.json<{ rule: string }>().rule, 'idempotency_in_progress');
      } else replayOf(t, res, written[0]!);
    }
  }
  t.same(await s.rows(), { entries: 5, products: 5, keys: 5, creates: 5 }, 'one per key');
});

t.test('the key row, the entry and its event commit together or not at all', async (t) => {
  const s = await setup(t);
  // The same role that migrated the tables (their owner) makes one part of the statement fail.
  const failing = [
    ['idempotency_keys', 'status <> 201'],
    ['journal_entries', 'recorded_late IS NULL'],
    ['journal_products', 'batch_bidx IS NULL'],
  ] as const;
  for (const [table, check] of failing) {
    await s.db.pool.query(
      `ALTER TABLE ${table} ADD CONSTRAINT h2_fails CHECK (${check}) NOT VALID`,
    );
    const res = await s.write(`all-or-nothing-${table}`);
    t.not(res.statusCode, 201, `${table} refuses its row: the write fails (${res.statusCode})`);
    t.equal(res.headers['idempotency-replayed'], undefined);
    t.same(
      await s.rows(),
      { entries: 0, products: 0, keys: 0, creates: 0 },
      `${table} failing: no key row, no entry, no product index, no event`,
    );
    await s.db.pool.query(`ALTER TABLE ${table} DROP CONSTRAINT h2_fails`);
  }
  const retry = await s.write('all-or-nothing-idempotency_keys');
  fresh(t, retry, 'the retry of the failed write');
  t.same(await s.rows(), { entries: 1, products: 1, keys: 1, creates: 1 }, 'all three, once');
});
