/**
 * Bulk seeding for `npm run bench`: sealed rows generated in Node through the real encryption
 * door (createForClient + seal + blindIndex), written with multi-row `INSERT ... SELECT *
 * FROM unnest(...)`, never through the HTTP API. The same data goes in clear into the bare
 * baseline's tables (bare_clients, bare_journal).
 */
import { SYSTEM_CONTEXT } from '../src/access/context.js';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import {
  createLocalKeyring,
  jsonField,
  textField,
  type ClientCipher,
  type ClientKeys,
} from '../src/crypto/index.js';
import { uuidv7 } from '../src/db/ids.js';
import { createDatabase, type Database, type Executor } from '../src/db/pool.js';
import { chainKeyring } from '../src/modules/audit/audit.chain-keys.js';
import { createAuditSealer } from '../src/modules/audit/audit.chain.js';
import { createAuditRecorder } from '../src/modules/audit/audit.recorder.js';
import { PRODUCTION_PASSWORD_HASHING, createPasswordHasher } from '../src/modules/auth/password.js';
import { CLIENT_FIELDS } from '../src/modules/clients/clients.fields.js';
import { JOURNAL_FIELDS } from '../src/modules/journal/journal.fields.js';
import { createUsersService } from '../src/modules/users/users.service.js';
import { createDatabaseClientKeys } from '../src/db/key-store.js';

export const TREATMENT = 'botox';
export const PASSWORD = 'bench-password-correct-horse';
const SIGNER = textField('consents', 'signer_name_enc');
const ANSWERS = jsonField<Record<string, unknown>>('consents', 'answers_enc');

export interface Staff {
  id: string;
  username: string;
  role: 'reception' | 'practitioner' | 'auditor' | 'admin';
  clinicIds: string[];
}

export interface World {
  clinicIds: string[];
  staff: Staff[];
  templateId: string;
  /** Client ids per clinic, in creation order. */
  clientsByClinic: string[][];
  /**
   * Clients whose every entry has a responsible practitioner, that practitioner's
   * countersignature and a statement of the client's (one in ten; not in clientsByClinic):
   * the Danish record's extras on the read path (issue #18).
   */
  recordClientsByClinic: string[][];
  /** Email of every client, by id (the search scenario looks them up). */
  emails: Map<string, string>;
  clients: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Calls `report` each time another 10 % of `total` is done. */
function progress(label: string, total: number) {
  let next = 0.1;
  const started = Date.now();
  return (done: number) => {
    while (total > 0 && done / total >= next - 1e-9) {
      log(
        `  ${label}: ${Math.round(next * 100)} % (${done.toLocaleString('en')} / ${total.toLocaleString('en')}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      next += 0.1;
    }
  };
}

/** `INSERT INTO t (cols) SELECT * FROM unnest($1::type[], ...)`: one statement per batch. */
function unnestInsert(table: string, columns: [string, string][]): string {
  return `INSERT INTO ${table} (${columns.map(([name]) => name).join(', ')}) SELECT * FROM unnest(${columns
    .map(([, type], index) => `$${index + 1}::${type}[]`)
    .join(', ')})`;
}

const CLIENTS_INSERT = unnestInsert('clients', [
  ['id', 'uuid'],
  ['clinic_id', 'uuid'],
  ['first_name_enc', 'bytea'],
  ['last_name_enc', 'bytea'],
  ['date_of_birth_enc', 'bytea'],
  ['national_id_enc', 'bytea'],
  ['email_enc', 'bytea'],
  ['phone_enc', 'bytea'],
  ['address_enc', 'bytea'],
  ['email_bidx', 'bytea'],
  ['phone_bidx', 'bytea'],
  ['national_id_bidx', 'bytea'],
]);
const KEYS_INSERT = unnestInsert('client_data_keys', [
  ['client_id', 'uuid'],
  ['kek_id', 'text'],
  ['wrapped', 'bytea'],
]);
const CONSENTS_INSERT = unnestInsert('consents', [
  ['id', 'uuid'],
  ['client_id', 'uuid'],
  ['clinic_id', 'uuid'],
  ['template_id', 'uuid'],
  ['signer_name_enc', 'bytea'],
  ['answers_enc', 'bytea'],
  ['signed_at', 'timestamptz'],
  ['recorded_at', 'timestamptz'],
  ['witnessed_by', 'uuid'],
  ['document_hash', 'text'],
]);
const ENTRIES_INSERT = unnestInsert('journal_entries', [
  ['id', 'uuid'],
  ['client_id', 'uuid'],
  ['clinic_id', 'uuid'],
  ['author_id', 'uuid'],
  ['consent_id', 'uuid'],
  ['treatment_type_enc', 'bytea'],
  ['performed_at', 'timestamptz'],
  ['notes_enc', 'bytea'],
  ['treated_areas_enc', 'bytea'],
  ['products_enc', 'bytea'],
  ['recorded_late', 'boolean'],
  ['created_at', 'timestamptz'],
  ['responsible_id', 'uuid'],
]);
const COUNTERSIGNATURES_INSERT = unnestInsert('journal_countersignatures', [
  ['entry_id', 'uuid'],
  ['client_id', 'uuid'],
  ['countersigned_by', 'uuid'],
  ['countersigned_at', 'timestamptz'],
]);
const STATEMENTS_INSERT = unnestInsert('journal_statements', [
  ['id', 'uuid'],
  ['entry_id', 'uuid'],
  ['client_id', 'uuid'],
  ['recorded_by', 'uuid'],
  ['text_enc', 'bytea'],
  ['created_at', 'timestamptz'],
]);
const PRODUCTS_INSERT = unnestInsert('journal_products', [
  ['id', 'uuid'],
  ['entry_id', 'uuid'],
  ['client_id', 'uuid'],
  ['clinic_id', 'uuid'],
  ['batch_bidx', 'bytea'],
  ['performed_at', 'timestamptz'],
]);
const BARE_CLIENTS_INSERT = unnestInsert('bare_clients', [
  ['id', 'uuid'],
  ['clinic_id', 'uuid'],
  ['first_name', 'text'],
  ['last_name', 'text'],
  ['date_of_birth', 'text'],
  ['national_id', 'text'],
  ['email', 'text'],
  ['phone', 'text'],
  ['address', 'jsonb'],
]);
const BARE_JOURNAL_INSERT = unnestInsert('bare_journal', [
  ['id', 'uuid'],
  ['client_id', 'uuid'],
  ['clinic_id', 'uuid'],
  ['author_id', 'uuid'],
  ['treatment_type', 'text'],
  ['performed_at', 'timestamptz'],
  ['notes', 'text'],
  ['treated_areas', 'jsonb'],
  ['products', 'jsonb'],
  ['created_at', 'timestamptz'],
]);

/** The baseline's plaintext tables: the same data in clear, the same indexes the service has. */
export async function createBareTables(pool: pg.Pool) {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS bare_clients (
      id uuid PRIMARY KEY, clinic_id uuid NOT NULL, first_name text NOT NULL, last_name text NOT NULL,
      date_of_birth text NOT NULL, national_id text, email text, phone text, address jsonb,
      marketing_opt_in boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS bare_clients_email_idx ON bare_clients (email);
    CREATE INDEX IF NOT EXISTS bare_clients_clinic_idx ON bare_clients (clinic_id, id);
    CREATE TABLE IF NOT EXISTS bare_journal (
      id uuid PRIMARY KEY, client_id uuid NOT NULL REFERENCES bare_clients (id), clinic_id uuid NOT NULL,
      author_id uuid NOT NULL, treatment_type text NOT NULL, performed_at timestamptz NOT NULL,
      notes text NOT NULL, treated_areas jsonb, products jsonb, created_at timestamptz NOT NULL);
    CREATE INDEX IF NOT EXISTS bare_journal_client_idx ON bare_journal (client_id, performed_at, id);
  `);
}

export interface SeedContext {
  pool: pg.Pool;
  db: Database;
  keys: ClientKeys;
  masterKey: Buffer;
}

export function seedContext(pool: pg.Pool, masterKey: Buffer): SeedContext {
  const db = createDatabase(pool);
  return {
    pool,
    db,
    keys: createDatabaseClientKeys({ db, keyring: createLocalKeyring(masterKey) }),
    masterKey,
  };
}

/** 3 clinics; per clinic 3 practitioners and 3 reception; one auditor and one admin (20 staff). */
export async function seedStaff(
  ctx: SeedContext,
): Promise<Omit<World, 'clientsByClinic' | 'recordClientsByClinic' | 'emails' | 'clients'>> {
  const { pool, db } = ctx;
  const clinicIds = [uuidv7(), uuidv7(), uuidv7()];
  await pool.query(
    'INSERT INTO clinics (id, name) SELECT id, name FROM unnest($1::uuid[], $2::text[]) AS t(id, name)',
    [clinicIds, ['Klinik Nord', 'Klinik Syd', 'Klinik Øst']],
  );
  const audit = createAuditRecorder({ pool });
  const users = createUsersService({
    db,
    passwords: createPasswordHasher(PRODUCTION_PASSWORD_HASHING),
    clock: () => new Date(),
    audit,
  });
  const wanted: Omit<Staff, 'id'>[] = [];
  clinicIds.forEach((clinicId, c) => {
    for (let i = 1; i <= 3; i++) {
      wanted.push({
        username: `practitioner${c + 1}-${i}`,
        role: 'practitioner',
        clinicIds: [clinicId],
      });
      wanted.push({ username: `reception${c + 1}-${i}`, role: 'reception', clinicIds: [clinicId] });
    }
  });
  wanted.push({ username: 'auditor', role: 'auditor', clinicIds });
  wanted.push({ username: 'admin', role: 'admin', clinicIds });
  const staff: Staff[] = [];
  for (const user of wanted) {
    const created = await users.create(SYSTEM_CONTEXT, {
      ...user,
      password: PASSWORD,
      displayName: user.username,
    });
    staff.push({ ...user, id: created.id });
  }
  await audit.close();
  const admin = staff.find((user) => user.role === 'admin')!;
  const templateId = uuidv7();
  const body = 'Jeg giver samtykke til behandling med botulinumtoksin og filler.';
  await pool.query(
    `INSERT INTO consent_templates (id, key, version, title, body, body_hash, treatment_types, language, minimum_age, created_by)
     VALUES ($1, 'injectables', 1, 'Injektionsbehandling', $2, $3, $4, 'da', 18, $5)`,
    [
      templateId,
      body,
      createHash('sha256').update(body).digest('hex'),
      [TREATMENT, 'filler'],
      admin.id,
    ],
  );
  return { clinicIds, staff, templateId };
}

const FIRST = ['Anna', 'Mette', 'Lars', 'Søren', 'Ida', 'Freja', 'Mads', 'Sofie', 'Jens', 'Karen'];
const LAST = ['Jensen', 'Nielsen', 'Hansen', 'Pedersen', 'Andersen', 'Christensen', 'Larsen'];
const AREAS = ['forehead', 'glabella', 'crow’s feet', 'lips', 'jawline'];
const NOTES =
  'Behandling gennemført uden komplikationer. Klienten informeret om bivirkninger og ' +
  'efterforløb; kontrol om 14 dage. Ingen kendte allergier, ingen blodfortyndende medicin. ';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Keeps the unwrapped data key createForClient makes, and the row it would have inserted. */
function capturingExecutor(rows: { clientId: string; kekId: string; wrapped: Buffer }[]): Executor {
  return {
    insert: () => ({
      values: (row: { clientId: string; kekId: string; wrapped: Buffer }) => {
        rows.push(row);
        return Promise.resolve();
      },
    }),
  } as unknown as Executor;
}

/**
 * Clients `from` .. `to - 1` (index-based, so two calls grow one data set), each with two
 * active consents and `entries` journal entries (one product each), sealed, plus the same in
 * clear in the bare tables.
 */
export async function seedClients(
  ctx: SeedContext,
  world: World,
  from: number,
  to: number,
  entries: number,
) {
  const { pool, keys } = ctx;
  const total = to - from;
  const report = progress(
    `clients ${from.toLocaleString('en')}..${to.toLocaleString('en')}`,
    total,
  );
  const BATCH = 500;
  const now = Date.now();
  const day = 86_400_000;
  let pending: Promise<unknown> = Promise.resolve();
  for (let start = from; start < to; start += BATCH) {
    const end = Math.min(to, start + BATCH);
    const keyRows: { clientId: string; kekId: string; wrapped: Buffer }[] = [];
    const capture = capturingExecutor(keyRows);
    const c: unknown[][] = Array.from({ length: 12 }, () => []);
    const bc: unknown[][] = Array.from({ length: 9 }, () => []);
    const k: unknown[][] = [[], [], []];
    const cs: unknown[][] = Array.from({ length: 10 }, () => []);
    const je: unknown[][] = Array.from({ length: 13 }, () => []);
    const jc: unknown[][] = Array.from({ length: 4 }, () => []);
    const js: unknown[][] = Array.from({ length: 6 }, () => []);
    const jp: unknown[][] = Array.from({ length: 6 }, () => []);
    const bj: unknown[][] = Array.from({ length: 10 }, () => []);
    for (let i = start; i < end; i++) {
      const clinic = i % world.clinicIds.length;
      const clinicId = world.clinicIds[clinic]!;
      const practitioners = world.staff.filter(
        (s) => s.role === 'practitioner' && s.clinicIds[0] === clinicId,
      );
      const reception = world.staff.find(
        (s) => s.role === 'reception' && s.clinicIds[0] === clinicId,
      )!;
      const id = uuidv7();
      const cipher: ClientCipher = await keys.createForClient(capture, id);
      const year = 1960 + (i % 40);
      const month = 1 + (i % 12);
      const dom = 1 + (i % 28);
      const dateOfBirth = `${year}-${pad(month)}-${pad(dom)}`;
      // CPR: DDMMYY-SNNN, a 7th digit 0-3 puts the birth year in the 1900s.
      const nationalId = `${pad(dom)}${pad(month)}${pad(year % 100)}-${i % 4}${pad(i % 1000, 3)}`;
      const email = `client${i}@example.dk`;
      const phone = `+45 ${pad(20_000_000 + i, 8)}`;
      const firstName = FIRST[i % FIRST.length]!;
      const lastName = LAST[i % LAST.length]!;
      const address = {
        street: `Vestergade ${1 + (i % 200)}`,
        postalCode: pad(1000 + (i % 8000), 4),
        city: 'København',
        country: 'DK',
      };
      const sealed = [
        id,
        clinicId,
        cipher.seal(CLIENT_FIELDS.firstName, id, firstName),
        cipher.seal(CLIENT_FIELDS.lastName, id, lastName),
        cipher.seal(CLIENT_FIELDS.dateOfBirth, id, dateOfBirth),
        cipher.seal(CLIENT_FIELDS.nationalId, id, nationalId),
        cipher.seal(CLIENT_FIELDS.email, id, email),
        cipher.seal(CLIENT_FIELDS.phone, id, phone),
        cipher.seal(CLIENT_FIELDS.address, id, address),
        await keys.blindIndex('email', email),
        await keys.blindIndex('phone', phone),
        await keys.blindIndex('nationalId', nationalId),
      ];
      sealed.forEach((value, column) => c[column]!.push(value));
      [
        id,
        clinicId,
        firstName,
        lastName,
        dateOfBirth,
        nationalId,
        email,
        phone,
        JSON.stringify(address),
      ].forEach((value, column) => bc[column]!.push(value));
      const record = i % 10 === 5;
      (record ? world.recordClientsByClinic : world.clientsByClinic)[clinic]!.push(id);
      world.emails.set(id, email);

      let firstConsent = '';
      for (let n = 0; n < 2; n++) {
        const consentId = uuidv7();
        firstConsent ||= consentId;
        const signedAt = new Date(now - (400 + n * 30) * day);
        [
          consentId,
          id,
          clinicId,
          world.templateId,
          cipher.seal(SIGNER, consentId, `${firstName} ${lastName}`),
          cipher.seal(ANSWERS, consentId, { pregnant: false, allergies: 'none' }),
          signedAt.toISOString(),
          signedAt.toISOString(),
          reception.id,
          createHash('sha256').update(consentId).digest('hex'),
        ].forEach((value, column) => cs[column]!.push(value));
      }
      for (let e = 0; e < entries; e++) {
        const entryId = uuidv7();
        const performedAt = new Date(now - (350 - e * 30) * day).toISOString();
        const author = practitioners[e % practitioners.length]!;
        const areas = [AREAS[e % AREAS.length]!, AREAS[(e + 2) % AREAS.length]!];
        const products = [
          {
            name: 'Botox 100 E',
            batchNumber: `C${3000 + (i % 500)}C${e}`,
            quantity: 20,
            unit: 'E',
          },
        ];
        const notes = `${NOTES}Besøg ${e + 1}.`;
        [
          entryId,
          id,
          clinicId,
          author.id,
          firstConsent,
          cipher.seal(JOURNAL_FIELDS.treatmentType, entryId, TREATMENT),
          performedAt,
          cipher.seal(JOURNAL_FIELDS.notes, entryId, notes),
          cipher.seal(JOURNAL_FIELDS.treatedAreas, entryId, areas),
          cipher.seal(JOURNAL_FIELDS.products, entryId, products),
          false,
          performedAt,
          record ? practitioners[(e + 1) % practitioners.length]!.id : null,
        ].forEach((value, column) => je[column]!.push(value));
        if (record) {
          const countersignedAt = new Date(Date.parse(performedAt) + 3_600_000).toISOString();
          [entryId, id, practitioners[(e + 1) % practitioners.length]!.id, countersignedAt].forEach(
            (value, column) => jc[column]!.push(value),
          );
          const statementId = uuidv7();
          [
            statementId,
            entryId,
            id,
            reception.id,
            cipher.seal(
              JOURNAL_FIELDS.statementText,
              statementId,
              'Klienten oplyser, at hævelsen varede tre dage, ikke én som noteret.',
            ),
            countersignedAt,
          ].forEach((value, column) => js[column]!.push(value));
        }
        [
          uuidv7(),
          entryId,
          id,
          clinicId,
          await keys.blindIndex('batchNumber', products[0]!.batchNumber),
          performedAt,
        ].forEach((value, column) => jp[column]!.push(value));
        [
          entryId,
          id,
          clinicId,
          author.id,
          TREATMENT,
          performedAt,
          notes,
          JSON.stringify(areas),
          JSON.stringify(products),
          performedAt,
        ].forEach((value, column) => bj[column]!.push(value));
      }
    }
    for (const row of keyRows) {
      k[0]!.push(row.clientId);
      k[1]!.push(row.kekId);
      k[2]!.push(row.wrapped);
    }
    // Seal the next batch while this one is written.
    await pending;
    pending = (async () => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(CLIENTS_INSERT, c);
        await client.query(KEYS_INSERT, k);
        await client.query(CONSENTS_INSERT, cs);
        await client.query(ENTRIES_INSERT, je);
        await client.query(PRODUCTS_INSERT, jp);
        await client.query(COUNTERSIGNATURES_INSERT, jc);
        await client.query(STATEMENTS_INSERT, js);
        await client.query(BARE_CLIENTS_INSERT, bc);
        await client.query(BARE_JOURNAL_INSERT, bj);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      report(end - from);
    })();
  }
  await pending;
  world.clients = Math.max(world.clients, to);
}

const ACTIONS = [
  'client.read',
  'client.list',
  'journal.read',
  'journal.create',
  'client.search',
  'consent.read',
];

/**
 * `count` audit events with a single `INSERT ... SELECT generate_series` per 10 %, then the
 * chain sealed over them (as the service's background sealer would have done long ago), so
 * the benchmark does not measure a sealer catching up on a million events.
 */
export async function seedAuditEvents(
  ctx: SeedContext,
  world: World,
  count: number,
  options: {
    /**
     * Time-ordered ids (the uuidv7 layout, from each event's `at`) instead of random ones:
     * the primary key grows at its right edge rather than at random pages, what keeps
     * seeding 10 M events fast (`--scale`). The service's own ids are uuidv7 too.
     */
    orderedIds?: boolean;
  } = {},
) {
  const { pool } = ctx;
  const clients = world.clientsByClinic.flat().slice(0, 10_000);
  const actors = world.staff.filter((s) => s.role === 'practitioner' || s.role === 'reception');
  // At most 200 000 rows a statement: the pool's statement_timeout (30 s) must not cut one.
  const step = Math.max(1, Math.min(200_000, Math.ceil(count / 10)));
  const report = progress('audit events', count);
  for (let done = 0; done < count; done += step) {
    const n = Math.min(step, count - done);
    await pool.query(
      `INSERT INTO audit_events (id, at, actor_id, actor_role, action, outcome, resource_type, resource_id, client_id, request_id, ip, user_agent)
       SELECT CASE WHEN $8::boolean
                THEN (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7' ||
                      substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid
                ELSE gen_random_uuid() END,
              t.at,
              ($3::uuid[])[1 + g % cardinality($3::uuid[])],
              ($4::text[])[1 + g % cardinality($4::text[])],
              ($5::text[])[1 + g % cardinality($5::text[])],
              'success', 'client',
              ($2::uuid[])[1 + g % cardinality($2::uuid[])]::text,
              ($2::uuid[])[1 + g % cardinality($2::uuid[])],
              gen_random_uuid()::text, '10.0.0.' || (g % 250), 'ClinicDesk/4.2'
         FROM generate_series($6::int, $7::int) AS g,
              LATERAL (SELECT now() - interval '365 days' + interval '365 days' * (g::float8 / $1::int) AS at) AS t`,
      [
        count,
        clients,
        actors.map((a) => a.id),
        actors.map((a) => a.role),
        ACTIONS,
        done,
        done + n - 1,
        options.orderedIds === true,
      ],
    );
    report(done + n);
  }
  const sealer = createAuditSealer({
    pool,
    keys: chainKeyring({ masterKey: ctx.masterKey, masterKeysOld: [] }),
  });
  const started = Date.now();
  const { rows } = await pool.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)',
  );
  const unsealed = Number(rows[0]!.n);
  const reportSeal = progress('audit chain', unsealed);
  const timer = setInterval(() => {
    pool
      .query<{ n: string }>('SELECT count(*)::text AS n FROM audit_chain')
      .then((r) => reportSeal(Math.min(unsealed, Number(r.rows[0]!.n))))
      .catch(() => undefined);
  }, 2000);
  try {
    await sealer.sealNow({ timeoutMs: 3_600_000 });
  } finally {
    clearInterval(timer);
  }
  log(
    `  audit chain: ${unsealed.toLocaleString('en')} events sealed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}
