/**
 * Fault injection against a real service process and a real PostgreSQL, under a write and
 * read load: the process is SIGKILLed and restarted, and its database connection is cut by a
 * TCP proxy (every socket closed, new ones refused, then restored; the test run shares one
 * PostgreSQL server, so "database down" is the proxy, not a stopped server).
 *
 * Pass: every write the service acknowledged (201) is there afterwards with its audit event;
 * no client row exists without its `client.create` event and no such event without its row,
 * and the same for journal entries (written with their event in one statement) and
 * `journal.create`;
 * every read answered 200 has its `client.read` event (fail closed); while the database is
 * unreachable requests answer 503 with Retry-After, each within the client's timeout (no
 * hang); writes succeed again after restore without restarting the service; no answer is a
 * 500; the audit chain verifies. FAULT_ROUNDS sets the injections of each kind (default 2).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, createUser, loginAs } from '../helpers/auth.js';
import { clientPayload } from '../helpers/clients.js';
import { publishTemplate } from '../helpers/templates.js';
import {
  hostPort,
  httpLogin,
  send,
  sharedKeys,
  startProxy,
  startService,
  viaPort,
  type Service,
} from './harness.js';
import { recordSummary } from './summary.js';

const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 2);
const WORKERS = 8;
/** Acknowledged writes to wait for between two faults. */
const WRITES_BETWEEN = 10;
/** The bound that proves "no hang": every request must be answered within it. */
const REQUEST_TIMEOUT_MS = 10_000;
const RECOVERY_DEADLINE_MS = 30_000;

t.test(
  'SIGKILL and database cuts under load lose nothing and leave the chain intact',
  async (t) => {
    const keys = sharedKeys();
    const { app, db } = await buildTestApp(t, { env: keys });
    const clinicId = await createClinic(app);
    const reception = await createUser(app, { role: 'reception', clinicIds: [clinicId] });
    const practitioner = await createUser(app, { role: 'practitioner', clinicIds: [clinicId] });
    const admin = await loginAs(app, { role: 'admin', clinicIds: [clinicId] });
    const template = await publishTemplate(app, admin.headers, {
      key: 'faults',
      treatmentTypes: ['laser'],
    });
    const proxy = await startProxy(t, hostPort(db.url));
    const env = { ...keys, DATABASE_URL: viaPort(db.url, proxy.port) };

    let service: Service = await startService(t, env);
    const port = Number(new URL(service.base).port);
    const headers = await httpLogin(service.base, reception.username, reception.password);
    const clinical = await httpLogin(service.base, practitioner.username, practitioner.password);

    const acknowledged = new Map<string, string>(); // client id -> token
    const entries = new Set<string>(); // ids of journal entries acknowledged (201)
    const readsOk = new Set<string>(); // request ids of reads answered 200
    const tally = {
      requests: 0,
      '201': 0,
      '200': 0,
      '503': 0,
      '5xx other': 0,
      timeouts: 0,
      'network (during a kill)': 0,
      'network (otherwise)': 0,
      'other status': 0,
    };
    let killEpoch = 0;
    let gate: Promise<void> = Promise.resolve();
    let down = false;
    let running = true;
    let waiter: { target: number; resolve: () => void } | undefined;
    const unexpected: string[] = [];

    const untilAcknowledged = (more: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${more} acknowledged writes in ${RECOVERY_DEADLINE_MS} ms`)),
          RECOVERY_DEADLINE_MS,
        );
        waiter = {
          target: acknowledged.size + more,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });

    /**
     * A client just acknowledged: its consent, then a journal entry (the single-statement
     * write), each under the same faults. Only the outcomes a fault explains are expected.
     */
    const treat = async (clientId: string, token: string) => {
      // As the worker loop does before each request: never start one while the process is down.
      while (down) await gate;
      let epoch = killEpoch;
      const now = Date.now();
      const consent = await send(
        `${service.base}/v1/clients/${clientId}/consents`,
        {
          method: 'POST',
          headers: { ...headers, 'x-request-id': `${token}-consent` },
          body: {
            templateId: template.id,
            signerName: 'Fault Signer',
            signedAt: new Date(now - 2 * 3_600_000).toISOString(),
          },
        },
        REQUEST_TIMEOUT_MS,
      );
      tally.requests += 1;
      if (consent.status !== 201) return explained(consent, `${token}-consent`, epoch);
      tally['201'] += 1;
      while (down) await gate;
      epoch = killEpoch;
      const entry = await send(
        `${service.base}/v1/clients/${clientId}/journal`,
        {
          method: 'POST',
          headers: { ...clinical, 'x-request-id': `${token}-entry` },
          body: {
            treatmentType: 'laser',
            performedAt: new Date(now - 3_600_000).toISOString(),
            notes: `notes ${token}`,
            products: [{ name: 'Filler', batchNumber: `LOT-${token}` }],
          },
        },
        REQUEST_TIMEOUT_MS,
      );
      tally.requests += 1;
      if (entry.status === 201 && entry.id) {
        tally['201'] += 1;
        entries.add(entry.id);
      } else explained(entry, `${token}-entry`, epoch);
    };
    /**
     * A chained write that did not succeed: only a 503 with Retry-After, or a network error
     * while the process was being killed, is explained by a fault.
     */
    const explained = (outcome: Awaited<ReturnType<typeof send>>, token: string, epoch: number) => {
      if (outcome.status === 'timeout') tally.timeouts += 1;
      else if (outcome.status === 'network' && epoch !== killEpoch)
        tally['network (during a kill)'] += 1;
      else if (outcome.status === 503 && outcome.headers?.get('retry-after')) tally['503'] += 1;
      else {
        tally['other status'] += 1;
        unexpected.push(`${String(outcome.status)} on ${token}: ${JSON.stringify(outcome.body)}`);
      }
    };

    const worker = async (n: number) => {
      for (let i = 0; running; i += 1) {
        while (down) await gate;
        const epoch = killEpoch;
        const token = `w${n}-${i}-${randomBytes(4).toString('hex')}`;
        const known = [...acknowledged.keys()];
        const readId = i % 3 === 2 && known.length > 0 ? known[i % known.length] : undefined;
        const outcome = readId
          ? await send(
              `${service.base}/v1/clients/${readId}`,
              { method: 'GET', headers: { ...headers, 'x-request-id': token } },
              REQUEST_TIMEOUT_MS,
            )
          : await send(
              `${service.base}/v1/clients`,
              {
                method: 'POST',
                headers: { ...headers, 'x-request-id': token },
                body: clientPayload(clinicId, { lastName: token }),
              },
              REQUEST_TIMEOUT_MS,
            );
        tally.requests += 1;
        if (outcome.status === 'timeout') tally.timeouts += 1;
        else if (outcome.status === 'network') {
          if (epoch !== killEpoch) tally['network (during a kill)'] += 1;
          else {
            tally['network (otherwise)'] += 1;
            unexpected.push(`network error on ${token}: ${outcome.detail ?? ''}`);
          }
        } else if (outcome.status === 201 && outcome.id) {
          tally['201'] += 1;
          acknowledged.set(outcome.id, token);
          if (waiter && acknowledged.size >= waiter.target) waiter.resolve();
          if (i % 3 === 1) await treat(outcome.id, token);
        } else if (outcome.status === 200) {
          tally['200'] += 1;
          readsOk.add(token);
        } else if (outcome.status === 503) {
          tally['503'] += 1;
          if (!outcome.headers?.get('retry-after')) unexpected.push(`503 without Retry-After`);
        } else if (outcome.status >= 500) {
          tally['5xx other'] += 1;
          unexpected.push(`${outcome.status} on ${token}: ${JSON.stringify(outcome.body)}`);
        } else {
          tally['other status'] += 1;
          unexpected.push(`${outcome.status} on ${token}: ${JSON.stringify(outcome.body)}`);
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, n) => worker(n));

    let kills = 0;
    let cuts = 0;
    const probes: string[] = [];
    try {
      await untilAcknowledged(WRITES_BETWEEN);
      for (let round = 0; round < ROUNDS; round += 1) {
        // The process dies mid-flight and comes back on the same port.
        let reopen!: () => void;
        gate = new Promise((resolve) => (reopen = resolve));
        down = true;
        killEpoch += 1;
        await service.kill();
        kills += 1;
        service = await startService(t, env, port);
        down = false;
        reopen();
        await untilAcknowledged(WRITES_BETWEEN);

        // The database goes away under the running process, then comes back.
        proxy.cut();
        cuts += 1;
        const [write, read, ready] = await Promise.all([
          send(
            `${service.base}/v1/clients`,
            { method: 'POST', headers, body: clientPayload(clinicId, { lastName: 'probe' }) },
            REQUEST_TIMEOUT_MS,
          ),
          send(
            `${service.base}/v1/clients?clinicId=${clinicId}`,
            { method: 'GET', headers },
            REQUEST_TIMEOUT_MS,
          ),
          send(`${service.base}/readyz`, { method: 'GET', headers: {} }, REQUEST_TIMEOUT_MS),
        ]);
        probes.push(`${String(write.status)}/${String(read.status)}/${String(ready.status)}`);
        if (write.status !== 503 || !write.headers?.get('retry-after'))
          unexpected.push(`write while cut answered ${String(write.status)}`);
        if (read.status !== 503) unexpected.push(`read while cut answered ${String(read.status)}`);
        if (ready.status !== 503)
          unexpected.push(`readyz while cut answered ${String(ready.status)}`);
        proxy.restore();
        await untilAcknowledged(WRITES_BETWEEN);
      }
    } finally {
      running = false;
      down = false;
      gate = Promise.resolve();
      await Promise.all(workers);
    }

    t.same(unexpected, [], 'no 500, no unexplained network error, 503s carry Retry-After');
    if (unexpected.length > 0) t.comment(service.output().slice(-6_000));
    t.equal(tally.timeouts, 0, `every request answered within ${REQUEST_TIMEOUT_MS} ms`);
    t.ok(tally['503'] + cuts > 0, 'the cuts were seen as 503');
    t.comment(`probes while cut (write/read/readyz): ${probes.join(', ')}`);

    // Everything the clients were told happened, happened, and was audited.
    await app.auditChain.sealNow();
    const { rows: clients } = await db.pool.query<{ id: string }>('SELECT id FROM clients');
    const present = new Set(clients.map((row) => row.id));
    const lost = [...acknowledged.keys()].filter((id) => !present.has(id));
    t.same(lost, [], `all ${acknowledged.size} acknowledged writes are present`);
    const { rows: unaudited } = await db.pool.query(
      `SELECT c.id FROM clients c WHERE NOT EXISTS (
       SELECT 1 FROM audit_events a WHERE a.action = 'client.create'
          AND a.outcome = 'success' AND a.resource_id = c.id::text)`,
    );
    t.same(unaudited, [], 'no client row without its client.create event');
    const { rows: phantom } = await db.pool.query(
      `SELECT a.resource_id FROM audit_events a WHERE a.action = 'client.create'
        AND a.outcome = 'success'
        AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.id::text = a.resource_id)`,
    );
    t.same(phantom, [], 'no client.create event without its row');
    const { rows: entryRows } = await db.pool.query<{ id: string }>(
      'SELECT id FROM journal_entries',
    );
    const stored = new Set(entryRows.map((row) => row.id));
    t.ok(entries.size > 0, `journal entries were written under the faults (${entries.size})`);
    t.same(
      [...entries].filter((id) => !stored.has(id)),
      [],
      'every acknowledged journal entry is present',
    );
    const { rows: unauditedEntries } = await db.pool.query(
      `SELECT e.id FROM journal_entries e WHERE NOT EXISTS (
         SELECT 1 FROM audit_events a WHERE a.action = 'journal.create'
            AND a.outcome = 'success' AND a.resource_id = e.id::text)
        OR NOT EXISTS (SELECT 1 FROM journal_products p WHERE p.entry_id = e.id)`,
    );
    t.same(unauditedEntries, [], 'no journal entry without its journal.create event or product');
    const { rows: phantomEntries } = await db.pool.query(
      `SELECT a.resource_id FROM audit_events a WHERE a.action = 'journal.create'
        AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id::text = a.resource_id)`,
    );
    t.same(phantomEntries, [], 'no journal.create event without its entry');
    const { rows: readEvents } = await db.pool.query<{ request_id: string }>(
      `SELECT request_id FROM audit_events WHERE action = 'client.read' AND outcome = 'success'`,
    );
    const audited = new Set(readEvents.map((row) => row.request_id));
    t.same(
      [...readsOk].filter((id) => !audited.has(id)),
      [],
      `all ${readsOk.size} reads answered 200 were audited`,
    );
    const verified = await app.auditChain.verify();
    t.ok(verified.ok, `audit chain verifies (${verified.checked} events)`);

    await service.stop();
    t.comment(`faults: ${kills} kills, ${cuts} cuts, ${JSON.stringify(tally)}`);
    recordSummary('faults', {
      requests: tally.requests,
      'faults injected': kills + cuts,
      kills,
      cuts,
      'writes acknowledged': acknowledged.size,
      'journal entries acknowledged': entries.size,
      'writes lost': lost.length,
      '503': tally['503'],
      '5xx other': tally['5xx other'],
      timeouts: tally.timeouts,
    });
  },
);

t.test('a driver error wrapped by drizzle still counts as "database unavailable"', async (t) => {
  const { isDatabaseUnavailable } = await import('../../src/db/errors.js');
  const dropped = new Error('Connection terminated unexpectedly');
  const wrapped = new Error('Failed query: select 1', { cause: dropped });
  t.ok(isDatabaseUnavailable(wrapped), 'cause: connection terminated');
  const refused = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
  t.ok(isDatabaseUnavailable(new Error('Failed query', { cause: refused })), 'cause: refused');
  t.notOk(isDatabaseUnavailable(new Error('Failed query', { cause: new Error('syntax') })));
});
