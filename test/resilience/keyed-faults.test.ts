/**
 * Exactly-once under faults (issue #17): a real service process takes keyed writes (client
 * creates and journal entries, each with its own Idempotency-Key) from several workers while
 * it is SIGKILLed mid-run and restarted, and while its database connections are cut from the
 * test's own connection (`pg_terminate_backend`). Some answers are also thrown away by the
 * client (a lost response after the write committed). Afterwards every write that was not
 * acknowledged is retried with its key until it is.
 *
 * Pass: every intended write ends acknowledged; the rows written equal the writes intended,
 * one each (none twice, none lost), each with exactly one create event; a retry of a write
 * whose answer was lost replays it (same id, Idempotency-Replayed: true); no answer is a 500
 * or a 422; the audit chain verifies. KEYED_FAULT_ROUNDS sets the faults of each kind (1).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, createUser, loginAs } from '../helpers/auth.js';
import { clientPayload, makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';
import { httpLogin, send, sharedKeys, startService, type Service } from './harness.js';
import { recordSummary } from './summary.js';

const ROUNDS = Number(process.env.KEYED_FAULT_ROUNDS ?? 1);
const WORKERS = 4;
const TIMEOUT_MS = 10_000;
/** Acknowledged writes to wait for between two faults. */
const WRITES_BETWEEN = 8;
const DEADLINE_MS = 30_000;
const RETRY_ATTEMPTS = 40;
const APP_NAME = 'keyed-faults-service';
const HOUR = 3_600_000;

interface Intent {
  kind: 'client' | 'entry';
  key: string;
  url: string;
  body: unknown;
  /** The id of the first 201 the client saw (and kept), or undefined. */
  id?: string;
  /** The client threw the first answer away (a lost response). */
  lost?: { id: string | undefined };
  replayed?: boolean;
}

t.test('keyed writes under a kill and cut connections are written exactly once', async (t) => {
  const keys = sharedKeys();
  const { app, db } = await buildTestApp(t, { env: keys });
  const clinicId = await createClinic(app);
  const reception = await createUser(app, { role: 'reception', clinicIds: [clinicId] });
  const practitioner = await createUser(app, { role: 'practitioner', clinicIds: [clinicId] });
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
  const template = await publishTemplate(app, admin.headers, {
    key: 'keyed-faults',
    treatmentTypes: ['laser'],
  });
  const desk = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const patient = await makeClient(app, { clinicId, headers: desk.headers });
  await signConsent(app, {
    clientId: patient.id,
    templateId: template.id,
    headers: desk.headers,
    signedAt: new Date(Date.now() - 2 * HOUR).toISOString(),
  });
  const seededClients = 1;

  // The service's connections carry their own application_name, so the test cuts only them.
  const url = new URL(db.url);
  url.searchParams.set('application_name', APP_NAME);
  const env = { ...keys, DATABASE_URL: url.toString() };
  let service: Service = await startService(t, env);
  const port = Number(new URL(service.base).port);
  const headers = {
    client: await httpLogin(service.base, reception.username, reception.password),
    entry: await httpLogin(service.base, practitioner.username, practitioner.password),
  };

  const intents: Intent[] = [];
  const unexpected: string[] = [];
  const tally: Record<string, number> = {};
  const count = (outcome: string) => (tally[outcome] = (tally[outcome] ?? 0) + 1);
  let acknowledged = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  let down = false;
  let gate: Promise<void> = Promise.resolve();
  let running = true;

  const intend = (n: number): Intent => {
    const token = randomBytes(6).toString('hex');
    const intent: Intent =
      n % 2 === 0
        ? {
            kind: 'client',
            key: `client-${token}`,
            url: '/v1/clients',
            body: clientPayload(clinicId, { lastName: `K${token}` }),
          }
        : {
            kind: 'entry',
            key: `entry-${token}`,
            url: `/v1/clients/${patient.id}/journal`,
            body: {
              treatmentType: 'laser',
              performedAt: new Date(Date.now() - HOUR).toISOString(),
              notes: `keyed ${token}`,
              products: [{ name: 'Filler', batchNumber: `LOT-${token}` }],
            },
          };
    intents.push(intent);
    return intent;
  };

  /** One attempt of an intent with its key; the id when it was acknowledged (201). */
  const attempt = async (intent: Intent) => {
    const outcome = await send(
      `${service.base}${intent.url}`,
      {
        method: 'POST',
        headers: { ...headers[intent.kind], 'idempotency-key': intent.key },
        body: intent.body,
      },
      TIMEOUT_MS,
    );
    count(String(outcome.status));
    if (outcome.status === 201 && outcome.id) {
      return { id: outcome.id, replayed: outcome.headers?.get('idempotency-replayed') === 'true' };
    }
    // What a fault explains: a lost connection, a 503 while the database is away, a 409 while
    // the first attempt with the key still runs. Anything else is a defect.
    const explained =
      outcome.status === 'network' ||
      outcome.status === 'timeout' ||
      (outcome.status === 503 && outcome.headers?.get('retry-after')) ||
      outcome.status === 409;
    if (!explained) {
      unexpected.push(
        `${String(outcome.status)} on ${intent.key}: ${JSON.stringify(outcome.body)}`,
      );
    }
    return undefined;
  };

  const untilAcknowledged = (more: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${more} acknowledged writes in ${DEADLINE_MS} ms`)),
        DEADLINE_MS,
      );
      waiter = {
        target: acknowledged + more,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });

  const worker = async (w: number) => {
    for (let i = 0; running; i += 1) {
      while (down) await gate;
      const intent = intend(w * 100_000 + i);
      const first = await attempt(intent);
      if (first && i % 5 === 4) {
        intent.lost = { id: first.id }; // the answer never reached the tablet
      } else if (first) {
        intent.id = first.id;
      }
      if (first) {
        acknowledged += 1;
        if (waiter && acknowledged >= waiter.target) waiter.resolve();
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));

  let kills = 0;
  let cuts = 0;
  let terminated = 0;
  try {
    await untilAcknowledged(WRITES_BETWEEN);
    for (let round = 0; round < ROUNDS; round += 1) {
      // SIGKILL while the workers are writing: some requests die in flight.
      let reopen!: () => void;
      gate = new Promise((resolve) => (reopen = resolve));
      await service.kill();
      down = true;
      kills += 1;
      service = await startService(t, env, port);
      down = false;
      reopen();
      await untilAcknowledged(WRITES_BETWEEN);

      // Every connection of the service is cut under load; the pool must reconnect.
      const { rows } = await db.pool.query<{ n: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n
           FROM pg_stat_activity WHERE application_name = $1`,
        [APP_NAME],
      );
      terminated += Number(rows[0]!.n);
      cuts += 1;
      await untilAcknowledged(WRITES_BETWEEN);
    }
  } finally {
    running = false;
    down = false;
    gate = Promise.resolve();
    await Promise.all(workers);
  }
  t.ok(terminated > 0, `connections cut (${terminated})`);

  // The tablet's retry loop: every write it has no answer for, again with its key.
  const retried = intents.filter((intent) => intent.id === undefined);
  for (const intent of retried) {
    for (let n = 0; n < RETRY_ATTEMPTS && intent.id === undefined; n += 1) {
      const answer = await attempt(intent);
      if (answer) {
        intent.id = answer.id;
        intent.replayed = answer.replayed;
      } else await new Promise((resolve) => setTimeout(resolve, 100 * (n + 1)));
    }
  }
  t.same(unexpected, [], 'no 500 and no 422: only what a fault explains');
  if (unexpected.length > 0) t.comment(service.output().slice(-6_000));
  t.same(
    intents.filter((intent) => intent.id === undefined).map((intent) => intent.key),
    [],
    `all ${intents.length} intended writes acknowledged in the end`,
  );

  const lost = intents.filter((intent) => intent.lost);
  t.ok(lost.length > 0, `answers thrown away (${lost.length})`);
  t.same(
    lost.filter((intent) => !intent.replayed || intent.id !== intent.lost!.id).map((i) => i.key),
    [],
    'the retry of a lost answer replays it: same id, Idempotency-Replayed',
  );

  // Exactly once: the rows equal the intents, one each.
  const ids = (kind: Intent['kind']) =>
    intents.filter((intent) => intent.kind === kind).map((intent) => intent.id!);
  const scalar = async (query: string, values: unknown[] = []) =>
    Number((await db.pool.query<{ n: string }>(query, values)).rows[0]!.n);
  const clientIds = ids('client');
  const entryIds = ids('entry');
  t.equal(new Set(clientIds).size, clientIds.length, 'a distinct client per intent');
  t.equal(new Set(entryIds).size, entryIds.length, 'a distinct entry per intent');
  t.equal(
    await scalar('SELECT count(*) AS n FROM clients'),
    seededClients + clientIds.length,
    `${clientIds.length} clients intended, as many written`,
  );
  t.equal(
    await scalar('SELECT count(*) AS n FROM clients WHERE id = ANY($1::uuid[])', [clientIds]),
    clientIds.length,
    'each acknowledged client is there',
  );
  t.equal(
    await scalar('SELECT count(*) AS n FROM journal_entries'),
    entryIds.length,
    `${entryIds.length} entries intended, as many written`,
  );
  t.equal(
    await scalar('SELECT count(*) AS n FROM journal_entries WHERE id = ANY($1::uuid[])', [
      entryIds,
    ]),
    entryIds.length,
    'each acknowledged entry is there',
  );
  t.equal(
    await scalar(
      "SELECT count(*) AS n FROM audit_events WHERE action = 'client.create' AND outcome = 'success'",
    ),
    seededClients + clientIds.length,
    'one client.create event per client',
  );
  t.equal(
    await scalar(
      "SELECT count(*) AS n FROM audit_events WHERE action = 'journal.create' AND outcome = 'success'",
    ),
    entryIds.length,
    'one journal.create event per entry',
  );
  t.equal(
    await scalar('SELECT count(*) AS n FROM idempotency_keys'),
    intents.length,
    'one key row per intended write',
  );
  const replays = intents.filter((intent) => intent.replayed).length;
  t.equal(
    await scalar("SELECT count(*) AS n FROM audit_events WHERE action = 'idempotency.replay'"),
    replays,
    'each replay audited once',
  );

  await app.auditChain.sealNow();
  const verified = await app.auditChain.verify();
  t.ok(verified.ok, `audit chain verifies (${verified.checked} events)`);
  await service.stop();
  t.comment(
    `keyed faults: ${kills} kills, ${cuts} cuts (${terminated} connections), ${intents.length} writes, ${retried.length} retried, ${replays} replayed; ${JSON.stringify(tally)}`,
  );
  recordSummary('keyed-faults', {
    'writes intended': intents.length,
    kills,
    cuts,
    'connections cut': terminated,
    retried: retried.length,
    replayed: replays,
    'written twice': 0,
  });
});
