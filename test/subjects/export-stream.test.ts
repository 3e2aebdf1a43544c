/**
 * The data-subject export streams the client's access log (API.md "Clients", issue 16): a
 * cursor on the export pool, one batch at a time, so a long log costs no memory and a slow
 * reader holds none of the main pool; the JSON is what the serializer writes for the whole
 * document.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createPostgresStore } from '../../src/modules/attachments/attachments.store.js';
import t from 'tap';
import { SYSTEM_CONTEXT, type RequestContext } from '../../src/access/context.js';
import { ServiceUnavailable } from '../../src/errors.js';
import { createExportGate } from '../../src/modules/audit/audit.export-gate.js';
import { createClientsService } from '../../src/modules/clients/clients.service.js';
import { createJournalService } from '../../src/modules/journal/journal.service.js';
import { journalRetention } from '../../src/modules/journal/journal.retention.js';
import { createSubjectsService } from '../../src/modules/subjects/subjects.service.js';
import { subjectExportSchema } from '../../src/modules/subjects/subjects.schemas.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/** `count` access-log events of the client, alternately by `actors` and by the system. */
async function seedAccessLog(app: App, clientId: string, actors: string[], count: number) {
  await app.pool.query(
    `INSERT INTO audit_events (id, at, actor_id, action, outcome, resource_type, resource_id, client_id)
     SELECT gen_random_uuid(), timestamptz '2029-01-01' + i * interval '1 second',
            CASE WHEN i % 3 = 0 THEN NULL ELSE ($3::uuid[])[1 + i % array_length($3::uuid[], 1)] END,
            'client.read', 'success', 'client', $1::text, $1::uuid
       FROM generate_series(1, $2::int) AS i`,
    [clientId, count, actors],
  );
}

t.test('a long access log is complete, newest first, and byte-identical JSON', async (t) => {
  const { app } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, {
    role: 'reception',
    clinicIds: [clinic],
    displayName: 'Front Desk',
  });
  const { id: clientId } = await makeClient(app, { clinicId: clinic, firstName: 'Stream' });
  // Several batches of the cursor (500 a FETCH), with a short last one.
  await seedAccessLog(app, clientId, [reception.id, admin.id], 1_234);

  const expected = await app.pool.query<{ id: string; actor_id: string | null }>(
    'SELECT id::text, actor_id::text FROM audit_events WHERE client_id = $1 ORDER BY at DESC, id DESC',
    [clientId],
  );
  const res = await app.inject({
    method: 'GET',
    url: `/v1/clients/${clientId}/export`,
    headers: admin.headers,
  });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^application\/json/);
  const document = JSON.parse(res.body) as {
    accessLog: { id: string; actorId: string | null; actorDisplayName: string | null }[];
    client: { firstName: string };
  };
  t.equal(document.client.firstName, 'Stream');
  t.same(
    document.accessLog.map((event) => event.id),
    expected.rows.map((row) => row.id),
    'every event, newest first, none twice',
  );
  t.equal(
    JSON.stringify(subjectExportSchema.encode(subjectExportSchema.parse(document))),
    res.body,
    'exactly the JSON the response serializer writes for this document',
  );
  const named = (id: string | null) =>
    document.accessLog.filter((event) => event.actorId === id).map((e) => e.actorDisplayName);
  const byReception = named(reception.id);
  t.ok(byReception.length > 400, 'the seeded events by reception are there');
  t.ok(
    byReception.every((name) => name === 'Front Desk'),
    "each names its actor's display name",
  );
  t.ok(named(admin.id).every((name) => name === 'Test admin'));
  t.ok(named(null).length > 400 && named(null).every((name) => name === null), 'the system: null');
  const exports = await app.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1 AND action = 'client.export'",
    [clientId],
  );
  t.equal(exports.rows[0]!.n, 1, 'audited once, and not part of its own access log');
  t.notOk(document.accessLog.some((event) => event.id === undefined));
});

t.test('a reader that stops holds the export pool, not the main one, nor all rows', async (t) => {
  const { app } = await buildTestApp(t, { ready: false, build: { exportLimits: { perUser: 1 } } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const { id: clientId } = await makeClient(app, { clinicId: clinic });
  const count = 40_000; // ~15 MB of JSON: more than any socket buffer takes
  await seedAccessLog(app, clientId, [admin.id], count);

  const { port } = app.server.address() as AddressInfo;
  const request = http.get({
    host: '127.0.0.1',
    port,
    path: `/v1/clients/${clientId}/export`,
    headers: admin.headers,
    agent: false,
  });
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  t.equal(response.statusCode, 200);
  response.pause();
  await once(response, 'readable');

  // The cursor's transaction is still open on the export pool: the rows are not all read.
  const open = await app.pool.query<{ state: string }>(
    "SELECT state FROM pg_stat_activity WHERE application_name = 'clinic-journal-api-export' AND state LIKE 'idle in transaction%'",
  );
  t.equal(open.rows.length, 1, 'one export connection, mid-transaction, while nobody reads');
  const second = await app.inject({
    method: 'GET',
    url: `/v1/clients/${clientId}/export`,
    headers: admin.headers,
  });
  t.equal(second.statusCode, 429, "the export gate's per-user share applies");
  t.match(second.headers['retry-after'], /^\d+$/);
  const me = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: admin.headers });
  t.equal(me.statusCode, 200, 'normal traffic still answers');
  const { id: shortLog } = await makeClient(app, { clinicId: clinic });
  const short = await app.inject({
    method: 'GET',
    url: `/v1/clients/${shortLog}/export`,
    headers: admin.headers,
  });
  t.equal(short.statusCode, 200, 'a log of one batch needs no export slot: read at once');
  t.ok(short.json<{ accessLog: unknown[] }>().accessLog.length > 0);

  const chunks: Buffer[] = [];
  response.resume();
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const document = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    accessLog: { id: string }[];
  };
  t.ok(document.accessLog.length > count, 'complete once read');
  t.equal(new Set(document.accessLog.map((event) => event.id)).size, document.accessLog.length);
  await app.close();
});

t.test('an access log that breaks mid-stream is recorded as a failure', async (t) => {
  const { app } = await buildTestApp(t, { ready: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const { id: clientId } = await makeClient(app, { clinicId: clinic });
  await seedAccessLog(app, clientId, [admin.id], 40_000);
  const { port } = app.server.address() as AddressInfo;
  const request = http.get({
    host: '127.0.0.1',
    port,
    path: `/v1/clients/${clientId}/export`,
    headers: admin.headers,
    agent: false,
  });
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  t.equal(response.statusCode, 200);
  response.pause();
  await once(response, 'readable');
  const cut = await app.pool.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE application_name = 'clinic-journal-api-export'`,
  );
  t.equal(cut.rows[0]!.n, 1, "the export's connection was cut");
  response.resume();
  const ended = await new Promise<'complete' | 'aborted'>((resolve) => {
    response.on('end', () => resolve(response.complete ? 'complete' : 'aborted'));
    response.on('error', () => resolve('aborted'));
    response.on('aborted', () => resolve('aborted'));
  });
  t.equal(ended, 'aborted', 'the client sees a broken document, not a complete one');
  const events = await app.pool.query<{ outcome: string }>(
    "SELECT outcome FROM audit_events WHERE client_id = $1 AND action = 'client.export' ORDER BY seq",
    [clientId],
  );
  t.same(
    events.rows.map((row) => row.outcome),
    ['success', 'failure'],
    'the start and the break are both audited',
  );
  await app.close();
});

t.test('fail closed: no event, no export, and the slot and connection come back', async (t) => {
  const { app } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const { id: clientId } = await makeClient(app, { clinicId: clinic });
  // Longer than a batch: the access log would take an export slot and connection.
  await seedAccessLog(app, clientId, [admin.id], 600);
  const deps = { db: app.db, pool: app.pool, keys: app.keys, audit: app.audit, clock: app.clock };
  const gate = createExportGate({ capacity: 1, perUser: 1 });
  const subjects = createSubjectsService({
    ...deps,
    exports: { pool: app.auditExports.pool, gate },
    store: createPostgresStore(app.db),
    audit: {
      ...app.audit,
      record: async () => {
        throw new ServiceUnavailable('audit down', 1);
      },
    },
    journal: createJournalService(deps),
    clients: createClientsService({ ...deps, retentionYears: 10, retention: journalRetention }),
  });
  const ctx: RequestContext = {
    ...SYSTEM_CONTEXT,
    actor: {
      userId: admin.id,
      sessionId: '00000000-0000-7000-8000-000000000002',
      username: admin.username,
      role: 'admin',
      clinicIds: [clinic],
    },
  };
  const failed = await subjects.export(ctx, clientId).then(
    () => null,
    (error: unknown) => error,
  );
  t.match(failed, { status: 503 }, 'the export answers 503');
  const events = await app.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1 AND action = 'client.export'",
    [clientId],
  );
  t.equal(events.rows[0]!.n, 0, 'no export event');
  t.equal(gate.running, 0, 'the export slot is free again');
  t.equal(
    app.auditExports.pool.totalCount - app.auditExports.pool.idleCount,
    0,
    'no connection held',
  );
});
