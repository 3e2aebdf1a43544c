/**
 * What batching the audit inserts buys: Fastify + pg select-by-id with
 *   (a) no audit, (b) one audit insert committed per request, (c) the batched recorder,
 * driven by autocannon one after the other on the same database. Prints req/s and latency.
 *
 *   npx tsx bench/audit-batching.ts            # embedded PostgreSQL in a temporary directory
 *   DATABASE_URL=postgres://... npx tsx bench/audit-batching.ts   # a SCRATCH database: the
 *       audit events it writes can never be deleted (the table is append-only)
 *
 * BENCH_SECONDS (default 10) and BENCH_CONNECTIONS (default 50) tune the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { uuidv7 } from '../src/db/ids.js';
import { buildAuditRow } from '../src/modules/audit/audit.event.js';
import { columnArrays, INSERT_AUDIT_EVENTS } from '../src/modules/audit/audit.insert.js';
import { createAuditRecorder } from '../src/modules/audit/audit.recorder.js';
import { requestContext } from '../src/access/request-context.js';

/** The audit context of a bare request (no auth here). */
const contextOf = (request: {
  id: string;
  ip: string;
  headers: Record<string, string | string[] | undefined>;
}) => requestContext(request, { actor: null, purposeOfUse: null, breakGlass: null });

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ITEMS = 10_000;

async function main() {
  const dir = process.env.DATABASE_URL ? undefined : mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const embedded = dir ? await startEmbeddedPostgres({ dir: path.join(dir, 'pg') }) : undefined;
  const pool = createPool(process.env.DATABASE_URL ?? embedded!.url, { max: 20 });
  try {
    await migrate(pool);
    await pool.query(
      'CREATE TABLE IF NOT EXISTS bench_items (id uuid PRIMARY KEY, name text NOT NULL)',
    );
    await pool.query('TRUNCATE bench_items');
    const ids = Array.from({ length: ITEMS }, () => uuidv7());
    await pool.query(
      "INSERT INTO bench_items (id, name) SELECT id, 'item ' || id FROM unnest($1::uuid[]) AS id",
      [ids],
    );

    const recorder = createAuditRecorder({ pool });
    const app = Fastify({ logger: false });
    const read = async (id: string) =>
      (await pool.query('SELECT id, name FROM bench_items WHERE id = $1', [id])).rows[0] as unknown;
    const event = (id: string) => ({
      action: 'client.read',
      outcome: 'success' as const,
      resourceType: 'client',
      resourceId: id,
      clientId: id,
    });
    app.get<{ Params: { id: string } }>('/none/:id', async (request) => read(request.params.id));
    app.get<{ Params: { id: string } }>('/single/:id', async (request) => {
      const row = await read(request.params.id);
      const values = columnArrays([buildAuditRow(contextOf(request), event(request.params.id))]);
      await pool.query(INSERT_AUDIT_EVENTS, values);
      return row;
    });
    app.get<{ Params: { id: string } }>('/batched/:id', async (request) => {
      const row = await read(request.params.id);
      await recorder.record(contextOf(request), [event(request.params.id)]);
      return row;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    const results: Record<string, { reqPerSec: number; p50: number; p99: number }> = {};
    for (const variant of ['none', 'single', 'batched']) {
      const result = await autocannon({
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: SECONDS,
        requests: [
          {
            method: 'GET',
            setupRequest: (request) => ({
              ...request,
              path: `/${variant}/${ids[Math.floor(Math.random() * ids.length)]}`,
            }),
          },
        ],
      });
      results[variant] = {
        reqPerSec: Math.round(result.requests.average),
        p50: result.latency.p50,
        p99: result.latency.p99,
      };
      if (result.non2xx > 0 || result.errors > 0) {
        console.warn(`${variant}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      }
    }
    await app.close();
    await recorder.close();

    console.log(`\n${CONNECTIONS} connections, ${SECONDS} s each, select-by-id on ${ITEMS} rows`);
    console.table(
      Object.fromEntries(
        Object.entries(results).map(([name, r]) => [
          { none: '(a) no audit', single: '(b) one insert per request', batched: '(c) batched' }[
            name
          ]!,
          {
            'req/s': r.reqPerSec,
            'p50 ms': r.p50,
            'p99 ms': r.p99,
            'vs no audit': `${Math.round((r.reqPerSec / results.none!.reqPerSec) * 100)} %`,
          },
        ]),
      ),
    );
    console.log(
      `batched recorder: ${recorder.stats.events} events in ${recorder.stats.batches} inserts ` +
        `(${(recorder.stats.events / Math.max(1, recorder.stats.batches)).toFixed(1)} per commit)`,
    );
  } finally {
    await pool.end();
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
