/**
 * API.md "What is audited", the parts issue #16 found missing: a refresh, a logout, every
 * 409 refusal (erasure under legal hold or retention, a second withdrawal, a journal entry
 * no consent allows), break-glass misuse (400), a list or search that returns nothing (one
 * event naming its kind, never the value), `GET /v1/auth/me` and `GET /v1/clinics`.
 */
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry, writeEntryResponse } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

interface Row {
  action: string;
  outcome: string;
  reason: string | null;
  actor_id: string | null;
  client_id: string | null;
  resource_id: string | null;
}

t.test('every refusal, refresh, logout and empty list leaves an event', async (t) => {
  const { app } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinicId] });
  const eventsAfter = async (run: () => Promise<unknown>): Promise<Row[]> => {
    const { rows } = await app.pool.query<{ seq: string }>(
      'SELECT coalesce(max(seq), 0) AS seq FROM audit_events',
    );
    await run();
    const after = await app.pool.query<Row>(
      'SELECT action, outcome, reason, actor_id, client_id, resource_id FROM audit_events WHERE seq > $1 ORDER BY seq',
      [rows[0]!.seq],
    );
    return after.rows;
  };

  await t.test('a refresh names the session user', async (t) => {
    const events = await eventsAfter(async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/auth/refresh',
        payload: { refreshToken: reception.refreshToken },
      });
      t.equal(res.statusCode, 200);
    });
    t.match(events, [{ action: 'auth.refresh', outcome: 'success', actor_id: reception.id }]);
  });

  await t.test('GET /v1/auth/me and GET /v1/clinics', async (t) => {
    const me = await eventsAfter(() =>
      app.inject({ method: 'GET', url: '/v1/auth/me', headers: practitioner.headers }),
    );
    t.match(me, [{ action: 'user.read', outcome: 'success', resource_id: practitioner.id }]);
    const clinics = await eventsAfter(() =>
      app.inject({ method: 'GET', url: '/v1/clinics', headers: admin.headers }),
    );
    t.match(clinics, [{ action: 'clinic.list', outcome: 'success', actor_id: admin.id }]);
  });

  const client = await makeClient(app, { clinicId, headers: reception.headers });

  await t.test('erasure refused under legal hold and under retention', async (t) => {
    const held = await makeClient(app, { clinicId, headers: reception.headers });
    await app.inject({
      method: 'PUT',
      url: `/v1/clients/${held.id}/legal-hold`,
      headers: admin.headers,
      payload: { active: true, reason: 'Complaint pending' },
    });
    const hold = await eventsAfter(async () => {
      const res = await app.inject({
        method: 'DELETE',
        url: `/v1/clients/${held.id}`,
        headers: admin.headers,
        payload: { reason: 'Asked by the client' },
      });
      t.equal(res.statusCode, 409);
    });
    t.match(hold, [
      { action: 'client.erase', outcome: 'denied', reason: 'legal_hold', client_id: held.id },
    ]);

    const template = await publishTemplate(app, admin.headers, {
      key: 'retained',
      treatmentTypes: ['retained'],
    });
    await signConsent(app, {
      clientId: client.id,
      templateId: template.id,
      headers: reception.headers,
      signedAt: new Date(app.clock().getTime() - 86_400_000).toISOString(),
    });
    await writeEntry(app, {
      clientId: client.id,
      headers: practitioner.headers,
      treatmentType: 'retained',
    });
    const retention = await eventsAfter(async () => {
      const res = await app.inject({
        method: 'DELETE',
        url: `/v1/clients/${client.id}`,
        headers: admin.headers,
        payload: { reason: 'Asked by the client' },
      });
      t.equal(res.statusCode, 409);
    });
    t.match(retention, [
      { action: 'client.erase', outcome: 'denied', reason: 'retention', client_id: client.id },
    ]);
  });

  await t.test('a second withdrawal and a journal entry no consent allows', async (t) => {
    const template = await publishTemplate(app, admin.headers, {
      key: 'peel',
      treatmentTypes: ['peel'],
    });
    const consent = await signConsent(app, {
      clientId: client.id,
      templateId: template.id,
      headers: reception.headers,
    });
    const withdraw = () =>
      app.inject({
        method: 'POST',
        url: `/v1/clients/${client.id}/consents/${consent.id}/withdraw`,
        headers: reception.headers,
        payload: { reason: 'Changed her mind' },
      });
    t.equal((await withdraw()).statusCode, 200);
    const again = await eventsAfter(async () => t.equal((await withdraw()).statusCode, 409));
    t.match(again, [
      { action: 'consent.withdraw', outcome: 'denied', reason: 'already_withdrawn' },
    ]);
    const entry = await eventsAfter(async () => {
      const res = await writeEntryResponse(app, {
        clientId: client.id,
        headers: practitioner.headers,
        treatmentType: 'laser',
      });
      t.equal(res.statusCode, 409);
    });
    t.match(entry, [
      {
        action: 'journal.create',
        outcome: 'denied',
        reason: 'consent_missing',
        client_id: client.id,
      },
    ]);
  });

  await t.test('break-glass misuse (400)', async (t) => {
    const events = await eventsAfter(async () => {
      const res = await app.inject({
        method: 'GET',
        url: `/v1/clients/${client.id}`,
        headers: { ...reception.headers, 'x-break-glass-reason': 'I want to look at it' },
      });
      t.equal(res.statusCode, 400);
    });
    t.match(events, [{ action: 'access.denied', outcome: 'denied', reason: 'break_glass:role' }]);
    t.notMatch(JSON.stringify(events), /look at it/, 'the text sent is not kept');
  });

  await t.test('a list or search that returns nothing: one event, its kind only', async (t) => {
    const emptyClinic = await createClinic(app);
    const other = await loginAs(app, { role: 'reception', clinicIds: [emptyClinic] });
    const list = await eventsAfter(() =>
      app.inject({
        method: 'GET',
        url: `/v1/clients?clinicId=${emptyClinic}`,
        headers: other.headers,
      }),
    );
    t.match(list, [{ action: 'client.list', outcome: 'success', reason: 'none_found:clinic' }]);
    t.equal(list.length, 1, 'one event');
    const search = await eventsAfter(() =>
      app.inject({
        method: 'POST',
        url: '/v1/clients/search',
        headers: reception.headers,
        payload: { email: 'nobody.here@example.dk' },
      }),
    );
    t.match(search, [{ action: 'client.search', outcome: 'success', reason: 'none_found:email' }]);
    t.equal(search.length, 1, 'one event');
    const { rows } = await app.pool.query(
      "SELECT 1 FROM audit_events WHERE audit_events::text LIKE '%nobody.here%'",
    );
    t.equal(rows.length, 0, 'the value searched is nowhere in the audit trail');
  });
});
