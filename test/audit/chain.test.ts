import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import pg from 'pg';
import type { Test } from 'tap';
import { chainKeyring, type ChainKeyring } from '../../src/modules/audit/audit.chain-keys.js';
import { createAuditSealer } from '../../src/modules/audit/audit.chain.js';
import { verifyChain } from '../../src/modules/audit/audit.verify.js';
import { createAuditRecorder } from '../../src/modules/audit/audit.recorder.js';
import { createDatabase, createPool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const SIZE = 3000;

function keyring(): ChainKeyring {
  return chainKeyring({ masterKey: randomBytes(32), masterKeysOld: [] });
}

/** Events straight into the table (fast); each row gets its transaction's xid by default. */
async function seed(pool: pg.Pool, count: number, offset = 0): Promise<void> {
  await pool.query(
    `INSERT INTO audit_events (id, at, actor_id, actor_role, action, outcome, resource_type,
                               resource_id, client_id, request_id, ip, user_agent, purpose_of_use)
     SELECT gen_random_uuid(), now() + (i || ' ms')::interval, gen_random_uuid(), 'practitioner',
            'client.read', 'success', 'client', 'r' || i, gen_random_uuid(), 'req-' || i,
            '10.0.0.' || (i % 250), 'tablet/' || i, 'treatment'
       FROM generate_series($1::int + 1, $1::int + $2::int) AS i`,
    [offset, count],
  );
}

async function admin(t: Test, db: TestDatabase): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  t.teardown(() => client.end());
  // What a superuser who wants to hide something does first: triggers off for this session.
  await client.query("SET session_replication_role = 'replica'");
  return client;
}

async function eventAt(pool: pg.Pool, position: number): Promise<string> {
  const { rows } = await pool.query<{ event_id: string }>(
    'SELECT event_id::text FROM audit_chain WHERE position = $1',
    [position],
  );
  return rows[0]!.event_id;
}

async function sealedChain(t: Test) {
  const db = await createTestDatabase(t);
  const keys = keyring();
  const sealer = createAuditSealer({ pool: db.pool, keys, batchSize: 1000 });
  await seed(db.pool, SIZE);
  t.equal(await sealer.sealNow(), SIZE, 'every event sealed');
  const clean = await verifyChain(db.pool, keys);
  t.match(clean, { ok: true, checked: SIZE, firstBad: null, pending: 0 });
  t.equal(clean.head?.position, SIZE);
  return { db, keys, sealer, head: clean.head! };
}

t.test(
  'append-only: UPDATE, DELETE and TRUNCATE fail, for the owner and a superuser',
  async (t) => {
    const db = await createTestDatabase(t);
    const sealer = createAuditSealer({ pool: db.pool, keys: keyring() });
    await seed(db.pool, 3);
    await sealer.sealNow();
    const superuser = new pg.Client({ connectionString: db.adminUrl });
    await superuser.connect();
    t.teardown(() => superuser.end());
    for (const [who, run] of [
      ['owner', (text: string) => db.pool.query(text)],
      ['superuser', (text: string) => superuser.query(text)],
    ] as const) {
      for (const statement of [
        "UPDATE audit_events SET outcome = 'failure'",
        'DELETE FROM audit_events',
        'TRUNCATE audit_events',
        'TRUNCATE audit_events, audit_chain',
        "UPDATE audit_chain SET key_id = '0000000000000000'",
        'DELETE FROM audit_chain',
        'TRUNCATE audit_chain',
      ]) {
        await t.rejects(run(statement), /append-only/, `${who}: ${statement}`);
      }
    }
    const { rows } = await db.pool.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM audit_chain',
    );
    t.equal(rows[0]!.n, '3');
  },
);

t.test('tamper probes on a chain of thousands of events', async (t) => {
  const { db, keys } = await sealedChain(t);
  const su = await admin(t, db);
  const verify = () => verifyChain(db.pool, keys, { pageSize: 700 });

  // Every field of one event, changed and put back: caught at that event, then clean again.
  const position = 1234;
  const id = await eventAt(db.pool, position);
  const edits: [string, string][] = [
    ['at', "at + interval '1 second'"],
    ['actor_id', 'gen_random_uuid()'],
    ['actor_role', "'admin'"],
    ['action', "'client.update'"],
    ['outcome', "'denied'"],
    ['resource_type', "'journal'"],
    ['resource_id', "'other'"],
    ['client_id', 'gen_random_uuid()'],
    ['request_id', "'forged'"],
    ['ip', "'192.0.2.1'"],
    ['user_agent', 'NULL'],
    ['break_glass', 'true'],
    ['reason', "'because'"],
    ['purpose_of_use', "'billing'"],
    ['seq', 'seq + 1000000'],
    ['xid', "'3'::xid8"],
  ];
  for (const [column, value] of edits) {
    const { rows } = await su.query<{ old: string | null; type: string }>(
      `SELECT ${column}::text AS old, pg_typeof(${column})::text AS type FROM audit_events WHERE id = $1`,
      [id],
    );
    const { old, type } = rows[0]!;
    await su.query(`UPDATE audit_events SET ${column} = ${value} WHERE id = $1`, [id]);
    const result = await verify();
    t.match(result, { ok: false, firstBad: { position, eventId: id } }, `${column} edited`);
    await su.query(`UPDATE audit_events SET ${column} = $2::text::${type} WHERE id = $1`, [
      id,
      old,
    ]);
    t.match(await verify(), { ok: true, checked: SIZE }, `${column} restored: clean again`);
  }

  // Two events swapped (their contents trade places): caught at the first of them.
  const a = await eventAt(db.pool, 100);
  const b = await eventAt(db.pool, 2000);
  const placeholder = '00000000-0000-4000-8000-000000000000';
  await su.query('UPDATE audit_chain SET event_id = $2 WHERE event_id = $1', [a, placeholder]);
  await su.query('UPDATE audit_chain SET event_id = $2 WHERE event_id = $1', [b, a]);
  await su.query('UPDATE audit_chain SET event_id = $2 WHERE event_id = $1', [placeholder, b]);
  t.match(await verify(), { ok: false, firstBad: { position: 100, eventId: b } }, 'swap');
  await su.query('UPDATE audit_chain SET event_id = $2 WHERE event_id = $1', [a, placeholder]);
  await su.query('UPDATE audit_chain SET event_id = $2 WHERE event_id = $1', [b, a]);
  await su.query('UPDATE audit_chain SET event_id = $2 WHERE event_id = $1', [placeholder, b]);
  t.match(await verify(), { ok: true }, 'swapped back');

  // A link rewritten without the key, and the watermark copy edited.
  await su.query('UPDATE audit_chain SET link = sha256(link) WHERE position = 42');
  t.match(await verify(), { ok: false, firstBad: { position: 42 } }, 'forged link');
  await su.query('UPDATE audit_chain SET link = $1 WHERE position = 42', [
    (await su.query<{ link: Buffer }>('SELECT link FROM audit_chain WHERE position = 42')).rows[0]!
      .link,
  ]);
});

t.test('tamper probes: delete, insert, cut tail', async (t) => {
  const { db, keys, head } = await sealedChain(t);
  const su = await admin(t, db);
  const verify = (options = {}) => verifyChain(db.pool, keys, options);

  // A row inserted behind the chain (an old transaction id, as if it had always been there).
  const { rows: inserted } = await su.query<{ id: string }>(
    `INSERT INTO audit_events (id, at, action, outcome, xid, seq)
     SELECT gen_random_uuid(), at, 'client.read', 'success', xid, seq
       FROM audit_events WHERE id = (SELECT event_id FROM audit_chain WHERE position = 10)
     RETURNING id::text`,
  );
  t.match(
    await verify(),
    { ok: false, firstBad: { position: null, eventId: inserted[0]!.id, problem: /never sealed/ } },
    'insert',
  );

  // An event deleted: caught at its position.
  const deleted = await eventAt(db.pool, 2500);
  await su.query('DELETE FROM audit_events WHERE id = $1', [deleted]);
  t.match(
    await verify(),
    { ok: false, firstBad: { position: 2500, eventId: deleted, problem: /missing/ } },
    'event deleted',
  );

  // An event deleted together with its link: the gap is caught.
  const other = await eventAt(db.pool, 1500);
  await su.query('DELETE FROM audit_chain WHERE position = 1500');
  await su.query('DELETE FROM audit_events WHERE id = $1', [other]);
  t.match(
    await verify(),
    { ok: false, firstBad: { position: 1500, problem: /link missing/ } },
    'event and link deleted',
  );

  // The tail cut (events and links): only a head saved outside the database notices.
  const fresh = await sealedChain(t);
  const su2 = await admin(t, fresh.db);
  await su2.query(
    'DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_chain WHERE position > 2900)',
  );
  await su2.query('DELETE FROM audit_chain WHERE position > 2900');
  t.match(
    await verifyChain(fresh.db.pool, fresh.keys),
    { ok: true, checked: 2900 },
    'cut tail looks fine alone',
  );
  t.match(
    await verifyChain(fresh.db.pool, fresh.keys, { expectedHead: fresh.head }),
    { ok: false, firstBad: { position: SIZE, problem: /tail cut/ } },
    'caught against the saved head',
  );
  t.ok(head.hash.match(/^[0-9a-f]{64}$/));
});

t.test('range verification and key rotation', async (t) => {
  const db = await createTestDatabase(t);
  const oldMaster = randomBytes(32);
  const newMaster = randomBytes(32);
  const before = chainKeyring({ masterKey: oldMaster, masterKeysOld: [] });
  const after = chainKeyring({ masterKey: newMaster, masterKeysOld: [oldMaster] });
  await seed(db.pool, 500);
  await createAuditSealer({ pool: db.pool, keys: before }).sealNow();
  await seed(db.pool, 500, 500);
  await createAuditSealer({ pool: db.pool, keys: after }).sealNow();
  t.match(await verifyChain(db.pool, after), { ok: true, checked: 1000 }, 'both segments verify');
  t.match(
    await verifyChain(db.pool, chainKeyring({ masterKey: newMaster, masterKeysOld: [] })),
    { ok: false, firstBad: { position: 1, problem: /key/ } },
    'without the old key the old segment cannot be checked',
  );
  const { rows } = await db.pool.query<{ from: Date; to: Date }>(
    "SELECT min(at) + interval '100 ms' AS from, min(at) + interval '200 ms' AS to FROM audit_events",
  );
  const ranged = await verifyChain(db.pool, after, { from: rows[0]!.from, to: rows[0]!.to });
  t.match(ranged, { ok: true });
  t.ok(ranged.checked >= 100 && ranged.checked < 1000, `range checked ${ranged.checked}`);

  // Tampering just past the range's end: the link that closes the range no longer matches.
  const next = ranged.head!.position + 1;
  const su = await admin(t, db);
  await su.query(
    `UPDATE audit_events SET outcome = 'denied'
      WHERE id = (SELECT event_id FROM audit_chain WHERE position = $1)`,
    [next],
  );
  t.match(
    await verifyChain(db.pool, after, { from: rows[0]!.from, to: rows[0]!.to }),
    { ok: false, firstBad: { position: next, problem: /does not match/ } },
    'an event changed just past the range is caught by the closing link',
  );
  t.match(
    await verifyChain(db.pool, after, { from: rows[0]!.from, to: rows[0]!.to }),
    { checked: ranged.checked, head: ranged.head },
    'the closing link is checked, not counted, and the head stays the range’s',
  );
});

t.test('a lower seq that commits late is sealed by a later batch', async (t) => {
  const db = await createTestDatabase(t);
  const keys = keyring();
  const sealer = createAuditSealer({ pool: db.pool, keys });
  const recorder = createAuditRecorder({ pool: db.pool });
  t.teardown(() => recorder.close());
  const slow = await db.pool.connect();
  t.teardown(() => slow.release());
  const slowDb = createDatabase(slow as unknown as pg.Pool);
  await slow.query('BEGIN');
  await recorder.write(slowDb, SYSTEM_CONTEXT, [{ action: 'clinic.create', outcome: 'success' }]);
  await recorder.record(SYSTEM_CONTEXT, [{ action: 'client.read', outcome: 'success' }]);
  await recorder.record(SYSTEM_CONTEXT, [{ action: 'client.read', outcome: 'success' }]);
  t.equal(await sealer.sealOnce({ wait: true }), 0, 'nothing sealed past a running writer');
  await slow.query('COMMIT');
  t.equal(await sealer.sealNow(), 3);
  t.match(await verifyChain(db.pool, keys), { ok: true, checked: 3, pending: 0 });
  const { rows } = await db.pool.query<{ action: string }>(
    'SELECT e.action FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY position',
  );
  t.equal(rows[0]!.action, 'clinic.create', 'the early transaction leads the chain');
});

t.test('two processes writing and sealing at once: every event sealed exactly once', async (t) => {
  const db = await createTestDatabase(t);
  const keys = keyring();
  const processes = [0, 1].map(() => {
    const pool = createPool(db.url, { max: 5 });
    t.teardown(() => pool.end());
    return {
      recorder: createAuditRecorder({ pool, maxBatchEvents: 50 }),
      sealer: createAuditSealer({ pool, keys, batchSize: 97 }),
    };
  });
  for (const { sealer } of processes) sealer.start(3);
  await Promise.all(
    processes.flatMap(({ recorder }) =>
      Array.from({ length: 1500 }, (_, i) =>
        recorder.record(SYSTEM_CONTEXT, [
          { action: 'client.read', outcome: 'success', resourceId: `r${i}` },
          { action: 'client.list', outcome: 'success' },
        ]),
      ),
    ),
  );
  for (const { sealer, recorder } of processes) {
    await recorder.close();
    await sealer.stop();
  }
  await processes[0]!.sealer.sealNow();
  const result = await verifyChain(db.pool, keys);
  t.match(result, { ok: true, checked: 6000, pending: 0, firstBad: null });
  const { rows } = await db.pool.query<{ links: string; events: string; distinct: string }>(
    `SELECT (SELECT count(*) FROM audit_chain)::text AS links,
            (SELECT count(*) FROM audit_events)::text AS events,
            (SELECT count(DISTINCT event_id) FROM audit_chain)::text AS distinct`,
  );
  t.same(rows[0], { links: '6000', events: '6000', distinct: '6000' });
});
