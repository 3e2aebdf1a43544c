/**
 * Slow readers (issue 16, "Availability"): one auditor starts a dozen audit exports and an
 * admin a data-subject export, all read at about 1 KB/s over real HTTP, while other users
 * send `GET /v1/auth/me` and foreign-clinic `PATCH`es. The exports get their own bounded
 * capacity (429 per user, 503 beyond it, with Retry-After); normal requests keep answering,
 * none with 503, and within their usual latency: measured in this test first, without the
 * readers, and compared relatively with a generous factor (no absolute thresholds).
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { recordSummary } from './summary.js';

/** How much slower than usual a normal request may be under the readers: generous. */
const FACTOR = 25;
const EXPORTS = 12;
const ME_REQUESTS = 30;
const PATCHES = 20;

interface Reply {
  status: number;
  ms: number;
  retryAfter: string | undefined;
}

t.test('slow export readers do not stall normal traffic', async (t) => {
  const { app } = await buildTestApp(t, { ready: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const clinicA = await createClinic(app);
  const clinicB = await createClinic(app);
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [] });
  const admin = await loginAs(app, { role: 'admin', clinicIds: [] });
  const desk = await loginAs(app, { role: 'reception', clinicIds: [clinicA] });
  const foreign = await loginAs(app, { role: 'reception', clinicIds: [clinicB] });
  const { id: clientId } = await makeClient(app, { clinicId: clinicA });
  // Enough events that every export is far from its end while read at 1 KB/s.
  await app.pool.query(
    `INSERT INTO audit_events (id, at, action, outcome, resource_type, resource_id, client_id)
     SELECT gen_random_uuid(), timestamptz '2029-01-01' + i * interval '1 ms',
            'client.read', 'success', 'client', $1::text, $1::uuid
       FROM generate_series(1, 20000) AS i`,
    [clientId],
  );

  /** One request over its own connection; the answer read in full. */
  const request = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Reply> => {
    const started = performance.now();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path,
      agent: false,
      headers: { ...headers, ...(payload && { 'content-type': 'application/json' }) },
    });
    req.end(payload);
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    for await (const chunk of res) void chunk;
    const retry = res.headers['retry-after'];
    return { status: res.statusCode ?? 0, ms: performance.now() - started, retryAfter: retry };
  };
  const me = () => request('GET', '/v1/auth/me', desk.headers);
  const patch = () =>
    request('PATCH', `/v1/clients/${clientId}`, foreign.headers, { lastName: 'Elsewhere' });

  /** The normal traffic: `me` and foreign PATCHes, three at a time. */
  const traffic = async () => {
    const jobs = [
      ...Array.from({ length: ME_REQUESTS }, () => ['me', me] as const),
      ...Array.from({ length: PATCHES }, () => ['patch', patch] as const),
    ];
    const replies: { kind: 'me' | 'patch'; reply: Reply }[] = [];
    const worker = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        replies.push({ kind: job[0], reply: await job[1]() });
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    return replies;
  };
  const p90 = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]!;
  };

  // Warm up (connections, JIT), then the usual latency.
  await traffic();
  const usual = await traffic();

  // The slow readers: each export is read 100 bytes every 100 ms.
  type Reader = { res: http.IncomingMessage; req: http.ClientRequest; read: number };
  const readers: Reader[] = [];
  const refused: Reply[] = [];
  const open = async (path: string, headers: Record<string, string>) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false });
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    if (res.statusCode !== 200) {
      refused.push({ status: res.statusCode ?? 0, ms: 0, retryAfter: res.headers['retry-after'] });
      res.resume();
      return;
    }
    res.pause();
    readers.push({ res, req, read: 0 });
  };
  for (let i = 0; i < EXPORTS; i += 1) await open('/v1/audit-events/export', auditor.headers);
  await open(`/v1/clients/${clientId}/export`, admin.headers);
  await open(`/v1/clients/${clientId}/export`, admin.headers);
  const trickle = setInterval(() => {
    for (const reader of readers) {
      const chunk = reader.res.read(100) as Buffer | null;
      if (chunk) reader.read += chunk.length;
    }
  }, 100);
  t.teardown(() => clearInterval(trickle));

  const loaded = await traffic();
  const stillRunning = await app.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'clinic-journal-api-export' AND state LIKE 'idle in transaction%'",
  );
  clearInterval(trickle);
  for (const reader of readers) reader.req.destroy();

  t.equal(readers.length, 3, 'the export capacity (3) is taken: two audit exports, one subject');
  t.equal(stillRunning.rows[0]!.n, 3, 'and all three were still streaming during the traffic');
  t.ok(
    readers.every((reader) => reader.read > 0),
    'each reader was reading',
  );
  t.same(
    refused.map((reply) => reply.status).sort(),
    [...Array.from({ length: EXPORTS - 2 }, () => 429), 503],
    "the auditor's exports beyond their share: 429; the admin's beyond capacity: 503",
  );
  t.ok(
    refused.every((reply) => Number(reply.retryAfter) > 0),
    'every refusal says when to retry',
  );

  for (const [name, replies] of [
    ['usual', usual],
    ['under slow readers', loaded],
  ] as const) {
    t.ok(
      replies.filter((r) => r.kind === 'me').every((r) => r.reply.status === 200),
      `${name}: every GET /v1/auth/me answers 200`,
    );
    t.ok(
      replies.filter((r) => r.kind === 'patch').every((r) => r.reply.status === 404),
      `${name}: every foreign-clinic PATCH answers 404`,
    );
  }
  const usualP90 = p90(usual.map((r) => r.reply.ms));
  const loadedP90 = p90(loaded.map((r) => r.reply.ms));
  t.ok(
    loadedP90 <= usualP90 * FACTOR,
    `90th percentile under slow readers (${loadedP90.toFixed(1)} ms) within ${FACTOR}× the usual (${usualP90.toFixed(1)} ms)`,
  );
  recordSummary('slow-readers', {
    usualP90Ms: Number(usualP90.toFixed(1)),
    loadedP90Ms: Number(loadedP90.toFixed(1)),
    exportsRunning: readers.length,
  });
  await app.close();
});
