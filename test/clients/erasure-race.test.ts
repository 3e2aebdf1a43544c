import type { LightMyRequestResponse } from 'fastify';
import { setTimeout as tick } from 'node:timers/promises';
import type pg from 'pg';
import t, { type Test } from 'tap';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent, signConsentResponse } from '../helpers/consents.js';
import { writeEntry, writeEntryResponse } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

/**
 * A write sealed under a client's data key (a journal entry, a consent, an amendment) racing
 * that client's erasure must not commit under the destroyed key. The erasure is the real one:
 * the test holds the client's data-key row, so the erasure stops with the client row locked
 * and its checks done, just before it destroys the key. A writer that locks the client row
 * (FOR SHARE) now waits; one that does not answers 201 at once and the record it wrote
 * escapes the erasure's checks, unreadable. Then the test lets the erasure go on: it erases,
 * and the writer finds the client gone (404), having written nothing.
 */

const HOUR = 3_600_000;
const YEAR = 366 * 24 * HOUR;

/** Resolves once `count` other backends of this database wait on a lock. */
async function blockedBackends(pool: pg.Pool, count: number, stop: { done: boolean }) {
  while (!stop.done) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND cardinality(pg_blocking_pids(pid)) > 0`,
    );
    if (rows[0]!.n >= count) return;
    await tick(5);
  }
}

async function setUp(t: Test) {
  const clock = fakeClock();
  const test: TestApp = await buildTestApp(t, { build: { now: clock.now } });
  const { app } = test;
  const clinicId = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinicId] });
  const template = await publishTemplate(app, admin.headers, {
    key: 'race',
    treatmentTypes: ['filler'],
  });
  return { ...test, clock, clinicId, admin, practitioner, template };
}
type Setup = Awaited<ReturnType<typeof setUp>>;

/**
 * Erases `clientId` while `write` runs, as described above; returns both answers, or
 * `answeredWhileErasing` when the write answered while the erasure held the client.
 */
async function raceErasure(
  t: Test,
  s: Setup,
  clientId: string,
  write: () => Promise<LightMyRequestResponse>,
) {
  const holder = await s.db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM client_data_keys WHERE client_id = $1 FOR UPDATE', [
      clientId,
    ]);
    const erasure = s.app.inject({
      method: 'DELETE',
      url: `/v1/clients/${clientId}`,
      headers: s.admin.headers,
      payload: { reason: 'The client asked to be forgotten' },
    });
    const stop = { done: false };
    await blockedBackends(s.db.pool, 1, stop); // the erasure, at the key
    const writing = write();
    const first = await Promise.race([
      writing.then(() => 'answered' as const),
      blockedBackends(s.db.pool, 2, stop).then(() => 'waiting' as const),
    ]);
    stop.done = true;
    t.equal(first, 'waiting', 'the write waits for the erasure holding the client');
    await holder.query('COMMIT');
    return { erased: await erasure, written: await writing };
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release();
  }
}

t.test('a journal entry racing an erasure is not written under the destroyed key', async (t) => {
  const s = await setUp(t);
  const client = await makeClient(s.app, { clinicId: s.clinicId, headers: s.practitioner.headers });
  await signConsent(s.app, {
    clientId: client.id,
    templateId: s.template.id,
    headers: s.practitioner.headers,
    signedAt: new Date(s.clock.now().getTime() - 10 * HOUR).toISOString(),
  });
  const { erased, written } = await raceErasure(t, s, client.id, () =>
    writeEntryResponse(s.app, {
      clientId: client.id,
      headers: s.practitioner.headers,
      treatmentType: 'filler',
    }),
  );
  t.equal(erased.statusCode, 204, erased.body);
  t.equal(written.statusCode, 404, 'the writer finds the client erased');
  const rows = await s.db.pool.query('SELECT 1 FROM journal_entries WHERE client_id = $1', [
    client.id,
  ]);
  t.equal(rows.rowCount, 0, 'no entry under the destroyed key');
});

t.test('a consent racing an erasure is not written under the destroyed key', async (t) => {
  const s = await setUp(t);
  const client = await makeClient(s.app, { clinicId: s.clinicId, headers: s.practitioner.headers });
  const { erased, written } = await raceErasure(t, s, client.id, () =>
    signConsentResponse(s.app, {
      clientId: client.id,
      templateId: s.template.id,
      headers: s.practitioner.headers,
    }),
  );
  t.equal(erased.statusCode, 204, erased.body);
  t.equal(written.statusCode, 404, 'the writer finds the client erased');
  const rows = await s.db.pool.query('SELECT 1 FROM consents WHERE client_id = $1', [client.id]);
  t.equal(rows.rowCount, 0, 'no consent under the destroyed key');
});

t.test('an amendment racing an erasure is not written under the destroyed key', async (t) => {
  const s = await setUp(t);
  const client = await makeClient(s.app, { clinicId: s.clinicId, headers: s.practitioner.headers });
  await signConsent(s.app, {
    clientId: client.id,
    templateId: s.template.id,
    headers: s.practitioner.headers,
    signedAt: new Date(s.clock.now().getTime() - 10 * HOUR).toISOString(),
  });
  const entry = await writeEntry(s.app, {
    clientId: client.id,
    headers: s.practitioner.headers,
    treatmentType: 'filler',
  });
  // Past the retention period, so the erasure may go ahead.
  s.clock.advance(11 * YEAR);
  const practitioner = await loginAs(s.app, { role: 'practitioner', clinicIds: [s.clinicId] });
  const admin = await loginAs(s.app, { role: 'admin', clinicIds: [] });
  const { erased, written } = await raceErasure(t, { ...s, admin }, client.id, () =>
    s.app.inject({
      method: 'POST',
      url: `/v1/clients/${client.id}/journal/${entry.id}/amendments`,
      headers: practitioner.headers,
      payload: { notes: 'Corrected dose', reason: 'Typing error' },
    }),
  );
  t.equal(erased.statusCode, 204, erased.body);
  t.equal(written.statusCode, 404, 'the writer finds the client erased');
  const rows = await s.db.pool.query('SELECT 1 FROM journal_amendments WHERE client_id = $1', [
    client.id,
  ]);
  t.equal(rows.rowCount, 0, 'no amendment under the destroyed key');
});

t.test('a write and an erasure at once: one of the two wins, never both', async (t) => {
  const s = await setUp(t);
  const client = await makeClient(s.app, { clinicId: s.clinicId, headers: s.practitioner.headers });
  await signConsent(s.app, {
    clientId: client.id,
    templateId: s.template.id,
    headers: s.practitioner.headers,
    signedAt: new Date(s.clock.now().getTime() - 10 * HOUR).toISOString(),
  });
  // Both at once: never an entry written and the client erased too.
  const [written, erased] = await Promise.all([
    writeEntryResponse(s.app, {
      clientId: client.id,
      headers: s.practitioner.headers,
      treatmentType: 'filler',
    }),
    s.app.inject({
      method: 'DELETE',
      url: `/v1/clients/${client.id}`,
      headers: s.admin.headers,
      payload: { reason: 'The client asked to be forgotten' },
    }),
  ]);
  t.ok(
    (written.statusCode === 201 && erased.statusCode === 409) ||
      (written.statusCode === 404 && erased.statusCode === 204),
    `one of the two wins: entry ${written.statusCode}, erasure ${erased.statusCode}`,
  );
});
