/**
 * Two real service processes on one database (and this test's own app as a third sealer):
 * interleaved creates, reads and updates, each request sent to one process about a client the
 * other may have written. Pass: every acknowledged write is present with its audit event,
 * every answered read and update is audited, every audit event is sealed into the chain
 * exactly once (no gap, no duplicate position), and the chain verifies.
 * TWO_PROCESS_REQUESTS sets the number of requests (default 300).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, createUser } from '../helpers/auth.js';
import { clientPayload } from '../helpers/clients.js';
import { httpLogin, send, sharedKeys, startService } from './harness.js';
import { recordSummary } from './summary.js';

const REQUESTS = Number(process.env.TWO_PROCESS_REQUESTS ?? 300);
const CONCURRENCY = 12;
const TIMEOUT_MS = 15_000;
const SEAL_DEADLINE_MS = 30_000;

t.test('two processes, one database: nothing lost, every event sealed once', async (t) => {
  const keys = sharedKeys();
  const { app, db } = await buildTestApp(t, { env: keys });
  const clinicId = await createClinic(app);
  const user = await createUser(app, { role: 'reception', clinicIds: [clinicId] });
  const env = { ...keys, DATABASE_URL: db.url };
  const services = await Promise.all([startService(t, env), startService(t, env)]);
  const sessions = await Promise.all(
    services.map((s) => httpLogin(s.base, user.username, user.password)),
  );

  const created: string[] = [];
  const answered = {
    create: new Set<string>(),
    read: new Set<string>(),
    update: new Set<string>(),
  };
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < REQUESTS; i = next++) {
      const side = i % 2;
      const base = services[side]!.base;
      // Requests alternate between the processes, about clients either of them wrote.
      const target = created.length > 0 ? created[(i * 7) % created.length] : undefined;
      const kind = !target || i % 3 === 0 ? 'create' : i % 3 === 1 ? 'read' : 'update';
      const requestId = `${kind}-${i}-${randomBytes(3).toString('hex')}`;
      const headers = { ...sessions[side]!, 'x-request-id': requestId };
      const res =
        kind === 'create'
          ? await send(
              `${base}/v1/clients`,
              { method: 'POST', headers, body: clientPayload(clinicId, { lastName: requestId }) },
              TIMEOUT_MS,
            )
          : kind === 'read'
            ? await send(`${base}/v1/clients/${target!}`, { method: 'GET', headers }, TIMEOUT_MS)
            : await send(
                `${base}/v1/clients/${target!}`,
                { method: 'PATCH', headers, body: { lastName: requestId } },
                TIMEOUT_MS,
              );
      const ok = kind === 'create' ? 201 : 200;
      if (res.status !== ok) {
        failures.push(`${requestId}: ${String(res.status)}`);
        continue;
      }
      answered[kind].add(requestId);
      if (kind === 'create' && res.id) created.push(res.id);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.same(failures, [], `all ${REQUESTS} requests answered as expected`);

  const { rows: present } = await db.pool.query<{ id: string }>(
    'SELECT id FROM clients WHERE id = ANY($1::uuid[])',
    [created],
  );
  t.equal(present.length, created.length, `all ${created.length} acknowledged writes present`);
  const actions = { create: 'client.create', read: 'client.read', update: 'client.update' };
  for (const [kind, ids] of Object.entries(answered) as [keyof typeof actions, Set<string>][]) {
    const { rows } = await db.pool.query<{ request_id: string }>(
      'SELECT request_id FROM audit_events WHERE action = $1 AND outcome = $2',
      [actions[kind], 'success'],
    );
    const audited = new Set(rows.map((row) => row.request_id));
    t.same(
      [...ids].filter((id) => !audited.has(id)),
      [],
      `every ${kind} answered (${ids.size}) has its event`,
    );
  }

  // The processes' own sealers (and this app's) seal everything; wait for it with a deadline.
  const deadline = Date.now() + SEAL_DEADLINE_MS;
  let unsealed = -1;
  while (unsealed !== 0 && Date.now() < deadline) {
    const { rows } = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_events e
        WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)`,
    );
    unsealed = Number(rows[0]!.n);
    if (unsealed !== 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.equal(unsealed, 0, 'every event sealed by the running sealers');
  const { rows: chain } = await db.pool.query<{
    events: string;
    links: string;
    distinct_events: string;
    span: string;
  }>(
    `SELECT (SELECT count(*) FROM audit_events) AS events, count(*) AS links,
            count(DISTINCT event_id) AS distinct_events,
            max(position) - min(position) + 1 AS span
       FROM audit_chain`,
  );
  const row = chain[0]!;
  t.equal(row.links, row.events, 'one link per event');
  t.equal(row.distinct_events, row.links, 'no event sealed twice');
  t.equal(row.span, row.links, 'positions have no gap');
  const verified = await app.auditChain.verify();
  t.ok(verified.ok, `audit chain verifies (${verified.checked} events)`);

  await Promise.all(services.map((s) => s.stop()));
  recordSummary('two processes', {
    requests: REQUESTS,
    'writes acknowledged': created.length,
    'writes lost': created.length - present.length,
    'events sealed': Number(row.links),
    failures: failures.length,
  });
});
