/**
 * One server process for `npm run bench` (bench/run.ts forks it):
 *   service — the real app (buildApp) on its own pg pool;
 *   bare    — the baseline: the same routes on Fastify + pg over plaintext tables, no auth,
 *             no audit, no encryption, no validation library; and an attachment's sealed
 *             chunks streamed out of the attachment store without opening them;
 *   floor   — bare plus only the irreducible work of the guarantees (bench/floor.ts).
 * It listens on a free port, reports it over IPC, and samples its own RSS (every 10 ms) so the
 * parent can ask for the peak of a scenario.
 */
import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Session } from 'node:inspector';
import Fastify from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDatabase, createPool } from '../src/db/pool.js';
import { createAttachmentStore } from '../src/modules/attachments/attachments.stores.js';
import { uuidv7 } from '../src/db/ids.js';
import { floor } from './floor.js';

type Message =
  | { type: 'reset-peak' }
  | { type: 'peak' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };

/** CPU profiles of single scenarios (`--profile`): the same format as `node --cpu-prof`. */
const inspector = new Session();
inspector.connect();
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) =>
    inspector.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );

const kind = process.argv[2];
const url = process.env.DATABASE_URL!;
const poolMax = Number(process.env.BENCH_POOL_MAX ?? 10);

let peakRss = process.memoryUsage.rss();
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 10).unref();

async function bare() {
  const pool = createPool(url, { max: poolMax, applicationName: 'bench-bare' });
  const app = Fastify({ logger: false });
  const JOURNAL = `SELECT id, client_id AS "clientId", author_id AS "authorId", treatment_type AS "treatmentType",
    performed_at AS "performedAt", notes, treated_areas AS "treatedAreas", products, created_at AS "createdAt"
    FROM bare_journal`;
  const CLIENT = `SELECT id, clinic_id AS "clinicId", first_name AS "firstName", last_name AS "lastName",
    date_of_birth AS "dateOfBirth", national_id AS "nationalId", email, phone, address,
    marketing_opt_in AS "marketingOptIn", created_at AS "createdAt", updated_at AS "updatedAt"
    FROM bare_clients`;
  app.get<{ Params: { id: string } }>('/v1/clients/:id/journal', async (request) => {
    const { rows } = await pool.query(`${JOURNAL} WHERE client_id = $1 ORDER BY performed_at, id`, [
      request.params.id,
    ]);
    return { items: rows };
  });
  app.post<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/v1/clients/:id/journal',
    async (request, reply) => {
      const body = request.body;
      const { rows } = await pool.query(
        `INSERT INTO bare_journal (id, client_id, clinic_id, author_id, treatment_type, performed_at, notes,
           treated_areas, products, created_at)
         SELECT $1, c.id, c.clinic_id, $3, $4, $5, $6, $7, $8, now() FROM bare_clients c WHERE c.id = $2
         RETURNING id, client_id AS "clientId", treatment_type AS "treatmentType", performed_at AS "performedAt",
           notes, treated_areas AS "treatedAreas", products, created_at AS "createdAt"`,
        [
          uuidv7(),
          request.params.id,
          request.headers['x-bench-author'] ?? uuidv7(),
          body.treatmentType,
          body.performedAt,
          body.notes,
          JSON.stringify(body.treatedAreas ?? []),
          JSON.stringify(body.products ?? []),
        ],
      );
      return reply.code(201).send(rows[0]);
    },
  );
  app.post<{ Body: { email?: string } }>('/v1/clients/search', async (request) => {
    const email = (request.body.email ?? '').trim().toLowerCase();
    const { rows } = await pool.query(`${CLIENT} WHERE email = $1 LIMIT 100`, [email]);
    return { items: rows };
  });
  app.get<{ Querystring: { limit?: string } }>('/v1/clients', async (request) => {
    const limit = Number(request.query.limit ?? 50);
    const { rows } = await pool.query<{ id: string }>(`${CLIENT} ORDER BY clinic_id, id LIMIT $1`, [
      limit + 1,
    ]);
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  });
  // The attachment baseline: the same store the service is configured with, its sealed
  // chunks streamed as they are, not opened (bench/attachments.ts).
  const store = createAttachmentStore(
    loadConfig(process.env).attachmentStore,
    createDatabase(pool),
  );
  app.addHook('onClose', () => store.close());
  app.get<{ Params: { id: string } }>('/bench/attachments/:id/sealed', async (request, reply) =>
    reply
      .type('application/octet-stream')
      .send(Readable.from(store.get(request.params.id), { objectMode: false })),
  );
  return { app, pool };
}

async function service() {
  const config = loadConfig(process.env);
  const pool = createPool(url, { max: poolMax });
  const app = await buildApp({ config, pool });
  return { app, pool };
}

async function main() {
  const { app, pool } =
    kind === 'bare'
      ? await bare()
      : kind === 'floor'
        ? await floor(
            loadConfig(process.env),
            createPool(url, { max: poolMax, applicationName: 'bench-floor' }),
          )
        : await service();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.on('message', (message: Message) => {
    if (message.type === 'reset-peak') {
      peakRss = process.memoryUsage.rss();
      process.send?.({ type: 'peak-reset', rss: peakRss });
    } else if (message.type === 'profile-start') {
      void post('Profiler.enable')
        .then(() => post('Profiler.start'))
        .then(() => process.send?.({ type: 'profiling' }));
    } else if (message.type === 'profile-stop') {
      void post('Profiler.stop').then((result) => {
        writeFileSync(message.file, JSON.stringify((result as { profile: unknown }).profile));
        process.send?.({ type: 'profiled' });
      });
    } else if (message.type === 'peak') {
      process.send?.({ type: 'peak', rss: Math.max(peakRss, process.memoryUsage.rss()) });
    } else if (message.type === 'stop') {
      void app
        .close()
        .then(() => pool.end())
        .finally(() => process.exit(0));
    }
  });
  process.send?.({ type: 'ready', port });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
