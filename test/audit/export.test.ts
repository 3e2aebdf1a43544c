import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { loginAs } from '../helpers/auth.js';
import { collect } from '../helpers/memory.js';

/**
 * The export streams from one COPY statement in constant memory. 200 000 events in the default
 * suite (about 12 s on 2 cores); the million-row run is the same test with
 * AUDIT_EXPORT_ROWS=1000000 (about 55 s on 2 cores, most of it seeding).
 */
const ROWS = Number(process.env.AUDIT_EXPORT_ROWS ?? 200_000);
/** A resource bound, not a timing: the whole export must never sit in memory. */
const MEMORY_BOUND = 100 * 1024 * 1024;

// Live memory is what must stay flat, so the samples are taken after a full collection.

t.test(`export of ${ROWS} events streams in constant memory`, async (t) => {
  const { app, db } = await buildTestApp(t, { ready: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const auditor = await loginAs(app, { role: 'auditor' });
  // Seeded in one statement, with sequential ids and few distinct actors so the indexes
  // append rather than scatter; on its own connection without the pool's statement timeout.
  const seeder = await db.pool.connect();
  try {
    await seeder.query('SET statement_timeout = 0');
    await seeder.query(
      `INSERT INTO audit_events (id, at, actor_id, actor_role, action, outcome, resource_type,
                                 resource_id, client_id, request_id, ip, user_agent, purpose_of_use)
       SELECT lpad(to_hex(i), 32, '0')::uuid, timestamptz '2030-01-01' + i * interval '1 ms',
              $2::uuid, 'practitioner', 'client.read', 'success', 'client', 'r' || i, $3::uuid,
              'req-' || i, '10.0.0.1', 'Mozilla/5.0 (tablet; clinic) AppleWebKit/537.36',
              'treatment'
         FROM generate_series(1, $1::int) AS i`,
      [ROWS, auditor.id, auditor.id],
    );
  } finally {
    seeder.release();
  }

  const { port } = app.server.address() as AddressInfo;
  const baseline = collect();
  let peakHeap = baseline.heapUsed;
  let peakRss = baseline.rss;
  let lines = 0;
  let bytes = 0;
  let tail = '';
  const status = await new Promise<number>((resolve, reject) => {
    const request = http.get(
      {
        port,
        host: '127.0.0.1',
        path: '/v1/audit-events/export?format=ndjson&from=2030-01-01T00:00:00Z',
        headers: auditor.headers,
      },
      (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          bytes += chunk.length;
          const before = lines;
          for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines += 1;
          tail = (tail + chunk).slice(-1000);
          if (Math.floor(lines / 20_000) === Math.floor(before / 20_000)) return;
          const now = collect();
          if (now.heapUsed > peakHeap) peakHeap = now.heapUsed;
          if (now.rss > peakRss) peakRss = now.rss;
        });
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
  t.equal(status, 200);
  t.equal(lines, ROWS, 'one line per event');
  t.match(
    JSON.parse(tail.trimEnd().split('\n').at(-1)!),
    { resourceId: `r${ROWS}` },
    'in order, to the end',
  );
  t.ok(
    peakHeap - baseline.heapUsed < MEMORY_BOUND,
    `live heap grew ${Math.round((peakHeap - baseline.heapUsed) / 1048576)} MB while ${Math.round(bytes / 1048576)} MB streamed`,
  );
  t.ok(
    peakRss - baseline.rss < MEMORY_BOUND * 2,
    `RSS grew ${Math.round((peakRss - baseline.rss) / 1048576)} MB`,
  );
});
