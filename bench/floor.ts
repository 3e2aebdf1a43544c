/**
 * The **floor** baseline of `npm run bench` (issue #20): the bare server plus only the
 * irreducible work of the guarantees, written as directly as possible, so the table can show
 * what the guarantees cost (bare → floor) apart from the overhead we chose (floor → service).
 *
 * Per request, and nothing else:
 * - the same access token verified by the same library and options (@fastify/jwt,
 *   `jwtPluginOptions`);
 * - revocation on the very next request and clinic scope: the session, its user and the
 *   client's clinic checked inside the request's one data statement (one round trip);
 * - the same fields sealed and opened with AES-256-GCM under the client's data key, through the
 *   same keyring and data-key cache (src/crypto, src/db/key-store.ts);
 * - blind indexes for the search, as the service computes them;
 * - the same audit row: reads through the same batching recorder, durable before the answer;
 *   writes in the write's own statement (a CTE), so the event commits with the entry.
 * Reads fetch the client's wrapped data key in their one statement (as the service's journal read
 * does); every statement is a named prepared one. No validation library, no response schemas,
 * no logging, no helmet, no problem details.
 */
import fastifyJwt from '@fastify/jwt';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { RequestContext } from '../src/access/context.js';
import type { Role } from '../src/access/roles.js';
import type { Config } from '../src/config.js';
import { createLocalKeyring } from '../src/crypto/index.js';
import { uuidv7 } from '../src/db/ids.js';
import { createDatabaseClientKeys } from '../src/db/key-store.js';
import { createDatabase } from '../src/db/pool.js';
import { createAuditRecorder } from '../src/modules/audit/audit.recorder.js';
import { CLIENT_FIELDS } from '../src/modules/clients/clients.fields.js';
import { JOURNAL_FIELDS } from '../src/modules/journal/journal.fields.js';
import { jwtPluginOptions, withinLifetime } from '../src/modules/auth/tokens.js';

interface Claims {
  sub: string;
  sid: string;
  role: Role;
}

/** The session (not revoked, not expired, not idle; its user enabled) and its clinics. */
const SESSION = `s AS (
  SELECT u.id AS user_id, array_agg(uc.clinic_id) AS clinics
    FROM sessions x JOIN users u ON u.id = x.user_id
    LEFT JOIN user_clinics uc ON uc.user_id = u.id
   WHERE x.id = $1 AND x.user_id = $2 AND x.revoked_at IS NULL AND NOT u.disabled
     AND x.expires_at > now() AND x.last_seen_at > now() - interval '30 minutes'
   GROUP BY u.id)`;

export async function floor(config: Config, pool: pg.Pool) {
  const db = createDatabase(pool);
  // Named prepared statements, as the service's hot paths use: parsed and planned once per
  // connection.
  const prepared = <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) =>
    pool.query<R>({ name, text, values });
  const keyring = createLocalKeyring(config.masterKey, config.masterKeysOld);
  const keys = createDatabaseClientKeys({ db, keyring });
  const recorder = createAuditRecorder({ pool });
  const app = Fastify({ logger: false });
  await app.register(fastifyJwt, jwtPluginOptions(config.jwtSecret));

  async function caller(request: FastifyRequest, reply: FastifyReply): Promise<Claims | null> {
    try {
      const claims = await request.jwtVerify<Claims & { exp?: number; nbf?: number }>();
      if (!withinLifetime(claims, Date.now())) throw new Error('expired');
      return claims;
    } catch {
      await reply.code(401).send({ status: 401 });
      return null;
    }
  }
  const context = (request: FastifyRequest, claims: Claims): RequestContext => ({
    actor: {
      userId: claims.sub,
      sessionId: claims.sid,
      username: '',
      role: claims.role,
      clinicIds: [],
    },
    requestId: request.id,
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    purposeOfUse: null,
    breakGlass: null,
  });
  const readEvent = (action: string, resourceType: string, clientId: string | null) => ({
    action,
    outcome: 'success' as const,
    resourceType,
    resourceId: clientId,
    clientId,
  });

  // The additions an entry carries (API.md "Journal"): amendments and statements as sealed
  // JSON aggregates, its countersignature, who performed it and who was responsible.
  type Addition = { id: string; createdAt: string };
  type AmendmentJson = Addition & { authorId: string; notes: string; reason: string };
  type StatementJson = Addition & { recordedBy: string; text: string };
  const sealed = (base64: string) => Buffer.from(base64, 'base64');
  app.get<{ Params: { id: string } }>('/v1/clients/:id/journal', async (request, reply) => {
    const claims = await caller(request, reply);
    if (!claims) return reply;
    const clientId = request.params.id;
    const { rows } = await prepared<{
      id: string | null;
      author_id: string;
      performed_by: string | null;
      responsible_id: string | null;
      treatment_type_enc: Buffer;
      performed_at: Date;
      notes_enc: Buffer;
      treated_areas_enc: Buffer;
      products_enc: Buffer;
      created_at: Date;
      countersigned_by: string | null;
      countersigned_at: Date | null;
      amendments: AmendmentJson[] | null;
      statements: StatementJson[] | null;
      kek_id: string;
      wrapped: Buffer;
    }>(
      'floor-journal-read',
      `WITH ${SESSION}
       SELECT dk.kek_id, dk.wrapped,
              e.id, e.author_id, e.performed_by, e.responsible_id, e.treatment_type_enc,
              e.performed_at, e.notes_enc, e.treated_areas_enc, e.products_enc, e.created_at,
              cs.countersigned_by, cs.countersigned_at,
              (SELECT json_agg(json_build_object('id', a.id, 'authorId', a.author_id,
                        'notes', encode(a.notes_enc, 'base64'),
                        'reason', encode(a.reason_enc, 'base64'), 'createdAt', a.created_at)
                        ORDER BY a.created_at, a.id)
                 FROM journal_amendments a WHERE a.entry_id = e.id) AS amendments,
              (SELECT json_agg(json_build_object('id', st.id, 'recordedBy', st.recorded_by,
                        'text', encode(st.text_enc, 'base64'), 'createdAt', st.created_at)
                        ORDER BY st.created_at, st.id)
                 FROM journal_statements st WHERE st.entry_id = e.id) AS statements
         FROM s JOIN clients c ON c.id = $3 AND c.erased_at IS NULL AND c.clinic_id = ANY(s.clinics)
         JOIN client_data_keys dk ON dk.client_id = c.id
         LEFT JOIN journal_entries e ON e.client_id = c.id
         LEFT JOIN journal_countersignatures cs ON cs.entry_id = e.id
        ORDER BY e.performed_at, e.id LIMIT 51`,
      [claims.sid, claims.sub, clientId],
    );
    if (rows.length === 0) return reply.code(404).send({ status: 404 });
    // The client's wrapped data key came with the page, as in the service's read statement.
    const cipher = await keys.cipherFromWrapped(clientId, {
      kekId: rows[0]!.kek_id,
      wrapped: rows[0]!.wrapped,
    });
    const items = rows
      .filter((row) => row.id !== null)
      .map((row) => ({
        id: row.id!,
        clientId,
        authorId: row.author_id,
        performedBy: row.performed_by ?? row.author_id,
        responsibleId: row.responsible_id,
        treatmentType: cipher.open(JOURNAL_FIELDS.treatmentType, row.id!, row.treatment_type_enc),
        performedAt: row.performed_at,
        notes: cipher.open(JOURNAL_FIELDS.notes, row.id!, row.notes_enc),
        treatedAreas: cipher.open(JOURNAL_FIELDS.treatedAreas, row.id!, row.treated_areas_enc),
        products: cipher.open(JOURNAL_FIELDS.products, row.id!, row.products_enc),
        createdAt: row.created_at,
        countersignature:
          row.countersigned_by === null
            ? null
            : { by: row.countersigned_by, at: row.countersigned_at },
        amendments: (row.amendments ?? []).map((a) => ({
          id: a.id,
          authorId: a.authorId,
          notes: cipher.open(JOURNAL_FIELDS.amendmentNotes, a.id, sealed(a.notes)),
          reason: cipher.open(JOURNAL_FIELDS.amendmentReason, a.id, sealed(a.reason)),
          createdAt: a.createdAt,
        })),
        statements: (row.statements ?? []).map((st) => ({
          id: st.id,
          recordedBy: st.recordedBy,
          text: cipher.open(JOURNAL_FIELDS.statementText, st.id, sealed(st.text)),
          createdAt: st.createdAt,
        })),
      }));
    await recorder.record(context(request, claims), [
      readEvent('journal.list', 'journal', clientId),
    ]);
    return { items, nextCursor: null };
  });

  app.post<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/v1/clients/:id/journal',
    async (request, reply) => {
      const claims = await caller(request, reply);
      if (!claims) return reply;
      const clientId = request.params.id;
      const body = request.body;
      const id = uuidv7();
      const cipher = await keys.cipherFor(undefined, clientId);
      const ctx = context(request, claims);
      const { rows } = await prepared<{ id: string; created_at: Date }>(
        'floor-journal-write',
        `WITH ${SESSION},
         entry AS (
           INSERT INTO journal_entries (id, client_id, clinic_id, author_id, consent_id,
                    treatment_type_enc, performed_at, notes_enc, treated_areas_enc, products_enc,
                    recorded_late, created_at)
           SELECT $4, c.id, c.clinic_id, $2,
                  (SELECT k.id FROM consents k WHERE k.client_id = c.id LIMIT 1),
                  $5, $6, $7, $8, $9, false, now()
             FROM s JOIN clients c ON c.id = $3 AND c.erased_at IS NULL
                                  AND c.clinic_id = ANY(s.clinics)
           RETURNING id, created_at),
         event AS (
           INSERT INTO audit_events (id, at, actor_id, actor_role, action, outcome, resource_type,
                                     resource_id, client_id, request_id, ip, user_agent)
           SELECT $10, now(), $2, $11, 'journal.create', 'success', 'journalEntry', entry.id,
                  $3, $12, $13, $14 FROM entry)
         SELECT id, created_at FROM entry`,
        [
          claims.sid,
          claims.sub,
          clientId,
          id,
          cipher.seal(JOURNAL_FIELDS.treatmentType, id, String(body.treatmentType)),
          body.performedAt,
          cipher.seal(JOURNAL_FIELDS.notes, id, String(body.notes)),
          cipher.seal(JOURNAL_FIELDS.treatedAreas, id, body.treatedAreas ?? []),
          cipher.seal(JOURNAL_FIELDS.products, id, body.products ?? []),
          uuidv7(),
          claims.role,
          ctx.requestId,
          ctx.ip,
          ctx.userAgent,
        ],
      );
      if (rows.length === 0) return reply.code(404).send({ status: 404 });
      return reply.code(201).send({
        id,
        clientId,
        authorId: claims.sub,
        treatmentType: body.treatmentType,
        performedAt: body.performedAt,
        notes: body.notes,
        treatedAreas: body.treatedAreas ?? [],
        products: body.products ?? [],
        createdAt: rows[0]!.created_at,
      });
    },
  );

  // With each client's wrapped data key (the join below), so a cold data-key cache costs no
  // round trip per client.
  const CLIENT_COLUMNS = `c.id, c.clinic_id, c.first_name_enc, c.last_name_enc, c.date_of_birth_enc,
    c.national_id_enc, c.email_enc, c.phone_enc, c.address_enc, c.created_at, c.updated_at,
    dk.kek_id, dk.wrapped`;
  const DATA_KEY = 'JOIN client_data_keys dk ON dk.client_id = c.id';
  type ClientRow = {
    id: string;
    clinic_id: string;
    first_name_enc: Buffer;
    last_name_enc: Buffer;
    date_of_birth_enc: Buffer;
    national_id_enc: Buffer | null;
    email_enc: Buffer | null;
    phone_enc: Buffer | null;
    address_enc: Buffer | null;
    created_at: Date;
    updated_at: Date;
    kek_id: string;
    wrapped: Buffer;
  };
  async function present(row: ClientRow) {
    const cipher = await keys.cipherFromWrapped(row.id, {
      kekId: row.kek_id,
      wrapped: row.wrapped,
    });
    const open = <T>(field: Parameters<typeof cipher.open<T>>[0], value: Buffer | null) =>
      value === null ? null : cipher.open(field, row.id, value);
    return {
      id: row.id,
      clinicId: row.clinic_id,
      firstName: open(CLIENT_FIELDS.firstName, row.first_name_enc),
      lastName: open(CLIENT_FIELDS.lastName, row.last_name_enc),
      dateOfBirth: open(CLIENT_FIELDS.dateOfBirth, row.date_of_birth_enc),
      nationalId: open(CLIENT_FIELDS.nationalId, row.national_id_enc),
      email: open(CLIENT_FIELDS.email, row.email_enc),
      phone: open(CLIENT_FIELDS.phone, row.phone_enc),
      address: open(CLIENT_FIELDS.address, row.address_enc),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  app.post<{ Body: { email?: string } }>('/v1/clients/search', async (request, reply) => {
    const claims = await caller(request, reply);
    if (!claims) return reply;
    const index = await keys.blindIndex('email', request.body.email ?? '');
    const { rows } = await prepared<ClientRow>(
      'floor-search',
      `WITH ${SESSION}
       SELECT ${CLIENT_COLUMNS} FROM s JOIN clients c
           ON c.email_bidx = $3 AND c.erased_at IS NULL AND c.clinic_id = ANY(s.clinics)
       ${DATA_KEY}
        LIMIT 100`,
      [claims.sid, claims.sub, index],
    );
    const items = await Promise.all(rows.map(present));
    await recorder.record(
      context(request, claims),
      items.length > 0
        ? items.map((item) => readEvent('client.search', 'client', item.id))
        : [readEvent('client.search', 'client', null)],
    );
    return { items };
  });

  app.get<{ Querystring: { limit?: string } }>('/v1/clients', async (request, reply) => {
    const claims = await caller(request, reply);
    if (!claims) return reply;
    const limit = Number(request.query.limit ?? 50);
    const { rows } = await prepared<ClientRow>(
      'floor-list',
      `WITH ${SESSION}
       SELECT ${CLIENT_COLUMNS} FROM s JOIN clients c
           ON c.erased_at IS NULL AND c.clinic_id = ANY(s.clinics)
       ${DATA_KEY}
        -- The service's order (clients.repository.ts page): by id, so the primary key walks
        -- to the first 50; by (clinic_id, id) PostgreSQL sorts the clinics' every client.
        ORDER BY c.id LIMIT $3`,
      [claims.sid, claims.sub, limit + 1],
    );
    const items = await Promise.all(rows.slice(0, limit).map(present));
    await recorder.record(
      context(request, claims),
      items.map((item) => readEvent('client.list', 'client', item.id)),
    );
    return { items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  });

  app.addHook('onClose', async () => {
    await recorder.close?.();
  });
  return { app, pool };
}
