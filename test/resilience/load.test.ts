/**
 * Load: 100 connections for LOAD_SECONDS (default 5) of mixed traffic (creates, reads, lists,
 * searches, exports) with autocannon against a real service process. Every request carries
 * its own X-Request-Id, which the service echoes and records on its audit events.
 *
 * Pass: zero errors, zero timeouts, zero non-2xx; and the audit log matches the traffic
 * exactly: every answered request has exactly its events (one create, read or export event;
 * one list or search event per client returned) and nothing else, and no event names a
 * request that was never sent.
 */
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, createUser, loginAs } from '../helpers/auth.js';
import { clientPayload, makeClient, makeClientResponse } from '../helpers/clients.js';
import { httpLogin, sharedKeys, startService } from './harness.js';
import { recordSummary } from './summary.js';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 100);
const SEEDED = 40;

type Kind = 'create' | 'read' | 'list' | 'search' | 'export';
const ACTION: Record<Kind, string> = {
  create: 'client.create',
  read: 'client.read',
  list: 'client.list',
  search: 'client.search',
  export: 'client.export',
};

// autocannon's per-request hooks, which bench/autocannon.d.ts does not declare.
interface LoadRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest: (request: LoadRequest) => LoadRequest;
  onResponse: (
    status: number,
    body: string,
    context: unknown,
    headers: Record<string, string>,
  ) => void;
}
interface LoadResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
}
const run = autocannon as unknown as (options: {
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  requests: LoadRequest[];
}) => Promise<LoadResult>;

t.test(`${CONNECTIONS} connections of mixed traffic: no error, audit log = traffic`, async (t) => {
  const keys = sharedKeys();
  const { app, db } = await buildTestApp(t, { env: keys });
  const clinicId = await createClinic(app);
  const seeder = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const seeded: { id: string; email: string }[] = [];
  for (let i = 0; i < SEEDED; i += 1) {
    const email = `load-${i}-${randomBytes(3).toString('hex')}@example.dk`;
    const { id } = await makeClient(app, { clinicId, headers: seeder.headers, email });
    seeded.push({ id, email });
  }
  const reception = await createUser(app, { role: 'reception', clinicIds: [clinicId] });
  const admin = await createUser(app, { role: 'admin', clinicIds: [clinicId] });

  const service = await startService(t, { ...keys, DATABASE_URL: db.url });
  const receptionAuth = await httpLogin(service.base, reception.username, reception.password);
  const adminAuth = await httpLogin(service.base, admin.username, admin.password);

  const prefix = `load-${randomBytes(3).toString('hex')}`;
  const sent = new Map<string, Kind>();
  const answered = new Map<string, { kind: Kind; status: number; expected: number }>();
  let counter = 0;
  const pick = () => seeded[counter % SEEDED]!;
  const request = (kind: Kind, build: () => Omit<LoadRequest, 'setupRequest' | 'onResponse'>) => {
    const template: LoadRequest = {
      ...build(),
      // autocannon hands over the request with its defaults (host, port) merged in.
      setupRequest: (current) => {
        counter += 1;
        const id = `${prefix}-${kind}-${counter}`;
        sent.set(id, kind);
        const next = build();
        return {
          ...current,
          ...next,
          headers: { ...current.headers, ...next.headers, 'x-request-id': id },
        };
      },
      onResponse: (status, body, _context, headers) => {
        const id = headers['x-request-id'] ?? '';
        const items = kind === 'list' || kind === 'search' ? parseItems(body) : 1;
        answered.set(id, { kind, status, expected: items });
      },
    };
    return template;
  };
  const json = { 'content-type': 'application/json' };
  const requests = [
    request('create', () => ({
      method: 'POST',
      path: '/v1/clients',
      headers: { ...receptionAuth, ...json },
      body: JSON.stringify(clientPayload(clinicId)),
    })),
    request('read', () => ({
      method: 'GET',
      path: `/v1/clients/${pick().id}`,
      headers: receptionAuth,
    })),
    request('search', () => ({
      method: 'POST',
      path: '/v1/clients/search',
      headers: { ...receptionAuth, ...json },
      body: JSON.stringify({ email: pick().email }),
    })),
    request('list', () => ({
      method: 'GET',
      path: `/v1/clients?clinicId=${clinicId}&limit=5`,
      headers: receptionAuth,
    })),
    request('read', () => ({
      method: 'GET',
      path: `/v1/clients/${pick().id}`,
      headers: receptionAuth,
    })),
    request('export', () => ({
      method: 'GET',
      // Not one of the list's page (the first 5, read by every list): their access logs grow
      // past 500 events, and such an export takes an export slot (2 per user: 429 beyond).
      path: `/v1/clients/${seeded[5 + (counter % (SEEDED - 5))]!.id}/export`,
      headers: adminAuth,
    })),
  ];

  const result = await run({
    url: service.base,
    connections: CONNECTIONS,
    duration: SECONDS,
    timeout: 10,
    requests,
  });
  t.equal(result.errors, 0, 'no connection errors');
  t.equal(result.timeouts, 0, 'no timeouts');
  t.equal(result.non2xx, 0, 'no non-2xx answer');
  const bad = [...answered].filter(([, a]) => a.status !== (a.kind === 'create' ? 201 : 200));
  t.same(bad.slice(0, 5), [], 'every answer is the success status of its kind');

  // The audit log against the traffic, request by request.
  const { rows } = await db.pool.query<{ request_id: string; action: string; n: string }>(
    `SELECT request_id, action, count(*) AS n FROM audit_events
      WHERE request_id LIKE $1 GROUP BY request_id, action`,
    [`${prefix}-%`],
  );
  const events = new Map<string, { action: string; n: number }[]>();
  for (const row of rows) {
    const list = events.get(row.request_id) ?? [];
    list.push({ action: row.action, n: Number(row.n) });
    events.set(row.request_id, list);
  }
  const mismatched: string[] = [];
  for (const [id, answer] of answered) {
    const got = events.get(id) ?? [];
    const want = answer.expected > 0 ? [{ action: ACTION[answer.kind], n: answer.expected }] : [];
    if (JSON.stringify(got) !== JSON.stringify(want))
      mismatched.push(`${id}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
  }
  t.same(
    mismatched.slice(0, 10),
    [],
    `all ${answered.size} answered requests: exactly their events`,
  );
  const unknown = [...events.keys()].filter((id) => !sent.has(id));
  t.same(unknown, [], 'no event for a request that was never sent');
  const inFlight = [...events.keys()].filter((id) => !answered.has(id)).length;

  const perKind: Record<string, { answered: number; events: number }> = {};
  for (const [id, answer] of answered) {
    const entry = (perKind[answer.kind] ??= { answered: 0, events: 0 });
    entry.answered += 1;
    entry.events += (events.get(id) ?? []).reduce((sum, e) => sum + e.n, 0);
  }
  t.comment(
    `load: ${result.requests.total} requests in ${SECONDS} s, ${Math.round(result.requests.average)} req/s, ` +
      `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; per kind ${JSON.stringify(perKind)}; ` +
      `${inFlight} cut off in flight at the end (audited, unanswered)`,
  );
  await service.stop();
  recordSummary('load', {
    requests: result.requests.total,
    seconds: SECONDS,
    connections: CONNECTIONS,
    'req/s': Math.round(result.requests.average),
    'p99 ms': result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    'audit mismatches': mismatched.length,
  });
});

function parseItems(body: string): number {
  try {
    return (JSON.parse(body) as { items: unknown[] }).items.length;
  } catch {
    return -1;
  }
}

t.test('a cold process takes more concurrent creates than its pool has connections', async (t) => {
  // Before the blind indexes were computed outside the transaction, each create held a pooled
  // connection while waiting for another to load the index key: a pool-wide deadlock.
  const { app, db } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const statuses = await Promise.all(
    Array.from({ length: db.pool.options.max * 2 }, async (_, i) => {
      const res = await makeClientResponse(app, {
        clinicId,
        headers: reception.headers,
        email: `cold-${i}@example.dk`,
      });
      return res.statusCode;
    }),
  );
  t.same(new Set(statuses), new Set([201]), `${statuses.length} concurrent creates: all 201`);
});
