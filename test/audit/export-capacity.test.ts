import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as tick } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { ExportLimits } from '../../src/modules/audit/audit.export-gate.js';
import { buildTestApp } from '../helpers/app.js';
import { loginAs } from '../helpers/auth.js';

/**
 * Audit exports get their own small, bounded capacity (API.md "Audit"): beyond the user's
 * share 429, beyond the service's 503, both with Retry-After; a reader that takes nothing
 * for the idle period is cut off; and a stalled export holds none of the main pool.
 */

async function listening(t: Test, exportLimits: Partial<ExportLimits>, events = 20_000) {
  const { app, db } = await buildTestApp(t, { ready: false, build: { exportLimits } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  // Enough events that a reader who stops reading holds the export mid-COPY.
  await db.pool.query(
    `INSERT INTO audit_events (id, at, action, outcome, resource_type, resource_id)
     SELECT lpad(to_hex(i), 32, '0')::uuid, timestamptz '2030-01-01' + i * interval '1 ms',
            'client.read', 'success', 'client', 'r' || i
       FROM generate_series(1, $1::int) AS i`,
    [events],
  );
  return { app, db };
}

/** An ndjson export over real HTTP, up to its response head; the body is left unread. */
async function startExport(app: { server: http.Server }, headers: { authorization: string }) {
  const { port } = app.server.address() as AddressInfo;
  const request = http.get({
    host: '127.0.0.1',
    port,
    path: '/v1/audit-events/export?format=ndjson',
    headers,
    // A connection of its own: a socket the server cut must not be reused for the next one.
    agent: false,
  });
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  response.pause();
  return { request, response };
}

/** Reads a refused export's problem document. */
async function problem(response: http.IncomingMessage) {
  response.resume();
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { status: number };
}

/** Starts an export again until one is admitted (a freed slot is given back on close). */
async function admittedExport(app: { server: http.Server }, headers: { authorization: string }) {
  for (let attempt = 0; ; attempt++) {
    const started = await startExport(app, headers);
    if (started.response.statusCode === 200 || attempt >= 200) return started;
    started.request.destroy();
    await tick(10);
  }
}

t.test('exports beyond a user’s share answer 429, beyond capacity 503', async (t) => {
  const { app, db } = await listening(t, { capacity: 2, perUser: 1 });
  const first = await loginAs(app, { role: 'auditor', clinicIds: [] });
  const second = await loginAs(app, { role: 'auditor', clinicIds: [] });
  const third = await loginAs(app, { role: 'auditor', clinicIds: [] });

  const a = await startExport(app, first.headers);
  t.equal(a.response.statusCode, 200, 'a first export runs');
  await once(a.response, 'readable');

  const again = await startExport(app, first.headers);
  t.equal(again.response.statusCode, 429, "the same user's second export waits its turn");
  t.match(again.response.headers['retry-after'], /^\d+$/);
  t.match(again.response.headers['content-type'], /^application\/problem\+json/);
  t.match(await problem(again.response), { status: 429 });

  const b = await startExport(app, second.headers);
  t.equal(b.response.statusCode, 200, "another user's export runs");
  await once(b.response, 'readable');

  const full = await startExport(app, third.headers);
  t.equal(full.response.statusCode, 503, 'beyond the capacity: 503');
  t.match(full.response.headers['retry-after'], /^\d+$/);
  t.match(await problem(full.response), { status: 503 });

  const copies = await db.pool.query<{ application_name: string }>(
    `SELECT application_name FROM pg_stat_activity
      WHERE datname = current_database() AND query LIKE 'COPY%'`,
  );
  t.same(
    copies.rows.map((row) => row.application_name),
    ['clinic-journal-api-export', 'clinic-journal-api-export'],
    'the stalled exports run on the export pool, none on the main one',
  );

  // Normal traffic answers meanwhile, however many at once.
  const me = await Promise.all(
    Array.from({ length: 20 }, () =>
      app.inject({ method: 'GET', url: '/v1/auth/me', headers: third.headers }),
    ),
  );
  t.same(
    me.map((res) => res.statusCode),
    Array(20).fill(200),
    'every normal request answers while the exports stall',
  );

  // An export that ends gives its slot back.
  a.request.destroy();
  const c = await admittedExport(app, third.headers);
  t.equal(c.response.statusCode, 200, 'a freed slot admits the next export');
  b.request.destroy();
  c.request.destroy();
});

t.test('a reader that takes nothing for the idle period is cut off', async (t) => {
  const { app, db } = await listening(t, { capacity: 1, perUser: 1, idleMs: 300 }, 60_000);
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [] });
  const stalled = await startExport(app, auditor.headers);
  const broken = new Promise<'aborted'>((resolve) => {
    stalled.request.on('error', () => resolve('aborted'));
    stalled.response.on('error', () => resolve('aborted'));
    stalled.response.on('aborted', () => resolve('aborted'));
  });
  t.equal(stalled.response.statusCode, 200);
  await once(stalled.response, 'readable');
  // The server gives the export's connection back once it cuts the reader off.
  const copying = () =>
    db.pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%'
          AND state = 'active'`,
    );
  while ((await copying()).rowCount !== 0) await tick(20);
  t.pass('the stalled export stopped');
  const ended = Promise.race([
    broken,
    new Promise<'complete' | 'aborted'>((resolve) => {
      stalled.response.on('end', () => resolve(stalled.response.complete ? 'complete' : 'aborted'));
    }),
  ]);
  stalled.response.resume();
  t.equal(await ended, 'aborted', 'the reader was cut off before the end of the export');
  const next = await admittedExport(app, auditor.headers);
  t.equal(next.response.statusCode, 200, 'and its slot is free again');
  next.request.destroy();
});
