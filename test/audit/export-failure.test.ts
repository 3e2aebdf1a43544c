import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { SYSTEM_CONTEXT, type RequestContext } from '../../src/access/context.js';
import pg from 'pg';
import { isDatabaseUnavailable } from '../../src/db/errors.js';
import { createExportGate } from '../../src/modules/audit/audit.export-gate.js';
import { createAuditService } from '../../src/modules/audit/audit.service.js';
import { buildTestApp } from '../helpers/app.js';
import { loginAs } from '../helpers/auth.js';

/** A listening app, a signed-in auditor, and `count` events one millisecond apart from 2030. */
async function listeningWithEvents(t: Test, count: number) {
  const { app, db } = await buildTestApp(t, { ready: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const auditor = await loginAs(app, { role: 'auditor' });
  await db.pool.query(
    `INSERT INTO audit_events (id, at, action, outcome, resource_type, resource_id)
     SELECT lpad(to_hex(i), 32, '0')::uuid, timestamptz '2030-01-01' + i * interval '1 ms',
            'client.read', 'success', 'client', 'r' || i
       FROM generate_series(1, $1::int) AS i`,
    [count],
  );
  return { app, db, auditor };
}

/** An ndjson export over real HTTP, up to its response head (the body not yet read). */
async function startExport(app: { server: http.Server }, headers: { authorization: string }) {
  const { port } = app.server.address() as AddressInfo;
  const request = http.get({
    host: '127.0.0.1',
    port,
    path: '/v1/audit-events/export?format=ndjson',
    headers,
  });
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  return { request, response };
}

t.test('an export that breaks mid-stream is recorded as a failure beside its start', async (t) => {
  const { app, db, auditor } = await listeningWithEvents(t, 20_000);
  const { response } = await startExport(app, auditor.headers);
  t.equal(response.statusCode, 200);
  response.pause();
  await once(response, 'readable');
  // The export's connection is held back by the paused client, mid-COPY: cut it.
  const cut = await db.pool.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY%'`,
  );
  t.equal(cut.rows[0]?.n, 1, 'the export connection was cut');
  response.resume();
  const ended = await new Promise<'complete' | 'aborted'>((resolve) => {
    response.on('end', () => resolve(response.complete ? 'complete' : 'aborted'));
    response.on('error', () => resolve('aborted'));
    response.on('aborted', () => resolve('aborted'));
  });
  t.equal(ended, 'aborted', 'the client sees a broken stream, not a complete export');
  const events = await db.pool.query<{ outcome: string }>(
    "SELECT outcome FROM audit_events WHERE action = 'audit.export' ORDER BY seq",
  );
  t.same(
    events.rows.map((row) => row.outcome),
    ['success', 'failure'],
  );
});

t.test('a client that goes away mid-export gives its database connection back', async (t) => {
  const { app, db, auditor } = await listeningWithEvents(t, 100_000);
  const copying = async () =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY%'`,
      )
    ).rows[0]!.n;
  const { request, response } = await startExport(app, auditor.headers);
  t.equal(response.statusCode, 200);
  await once(response, 'data');
  response.pause();
  t.equal(await copying(), 1, 'the export holds one connection, mid-COPY');
  // The export pool's connections, seen from the database: busy while one is checked out.
  const exportBusy = async () =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'clinic-journal-api-export'
            AND state <> 'idle'`,
      )
    ).rows[0]!.n;
  t.equal(await exportBusy(), 1, "checked out of the export pool (never the main pool's)");
  request.destroy();

  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && ((await copying()) > 0 || (await exportBusy()) > 0))
    await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(await copying(), 0, 'the COPY ended in the database');
  t.equal(await exportBusy(), 0, 'no connection is left checked out');

  // The pool still serves a whole export afterwards.
  const again = await app.inject({
    method: 'GET',
    url: '/v1/audit-events/export?format=ndjson&from=2030-01-01T00:01:39Z',
    headers: auditor.headers,
  });
  t.equal(again.statusCode, 200);
  t.equal(again.body.split('\n').length - 1, 1001, 'events 99 000 to 100 000');
});

t.test(
  'an export the database cannot start fails before its event and before any byte (503, not a broken 200)',
  async (t) => {
    const { app, db } = await buildTestApp(t);
    // Nothing listens on port 1: connecting fails at once, as with a database that is down.
    const unreachable = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    t.teardown(() => unreachable.end());
    const audit = createAuditService({
      db: app.db,
      exportPool: unreachable,
      exportGate: createExportGate({ capacity: 1, perUser: 1 }),
      audit: app.audit,
      keys: app.keys,
      chain: app.auditChain,
    });
    const ctx: RequestContext = {
      ...SYSTEM_CONTEXT,
      actor: {
        userId: '00000000-0000-7000-8000-000000000001',
        sessionId: '00000000-0000-7000-8000-000000000002',
        username: 'auditor',
        role: 'auditor',
        clinicIds: [],
      },
    };
    const error = await audit.export(ctx, {}, 'ndjson').then(
      () => null,
      (reason: unknown) => reason,
    );
    t.ok(error, 'the export is refused before a stream exists');
    t.ok(isDatabaseUnavailable(error), 'as "database unavailable", which answers 503');
    const events = await db.pool.query("SELECT 1 FROM audit_events WHERE action = 'audit.export'");
    t.equal(events.rowCount, 0, 'and no event claims an export that never started');
  },
);
