/**
 * Incremental verify (issue 16, README "For auditors"): a clean whole-chain run leaves a
 * checkpoint; the next default run recomputes only the links after it, from its link, which
 * the chain must still hold. A change after the checkpoint is found by the default run, one
 * before it by `full=true` and by a range over it; a forged or cut checkpoint is found too.
 */
import pg from 'pg';
import t, { type Test } from 'tap';
import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import { buildTestApp } from '../helpers/app.js';
import { loginAs } from '../helpers/auth.js';

type Built = Awaited<ReturnType<typeof buildTestApp>>;

interface Result {
  ok: boolean;
  checked: number;
  since: number | null;
  head: { position: number; hash: string } | null;
  firstBad: { position: number | null; eventId: string | null; problem: string } | null;
}

async function setUp(t: Test) {
  const built = await buildTestApp(t);
  const auditor = await loginAs(built.app, { role: 'auditor' });
  const verify = async (query = '') => {
    const res = await built.app.inject({
      method: 'GET',
      url: `/v1/audit-events/verify${query}`,
      headers: auditor.headers,
    });
    t.equal(res.statusCode, 200);
    return res.json<Result>();
  };
  const record = async (count: number, tag: string) => {
    for (let i = 0; i < count; i += 1) {
      await built.app.audit.record(SYSTEM_CONTEXT, [
        { action: 'client.read', outcome: 'success', resourceId: `${tag}${i}` },
      ]);
    }
    await built.app.auditChain.sealNow();
  };
  const su = new pg.Client({ connectionString: built.db.adminUrl });
  await su.connect();
  t.teardown(() => su.end());
  // What a superuser who wants to hide something does first: triggers off for this session.
  await su.query("SET session_replication_role = 'replica'");
  return { ...built, verify, record, su };
}

const positionOf = async (app: Built['app'], resourceId: string) =>
  Number(
    (
      await app.pool.query<{ position: string }>(
        `SELECT c.position::text FROM audit_chain c JOIN audit_events e ON e.id = c.event_id
          WHERE e.resource_id = $1`,
        [resourceId],
      )
    ).rows[0]!.position,
  );

t.test('the second run recomputes only what is new since the checkpoint', async (t) => {
  const { app, verify, record } = await setUp(t);
  await record(40, 'a');
  const first = await verify();
  t.match(first, { ok: true, since: null });
  t.ok(first.checked >= 40, 'the first run checks the whole chain');
  const checkpoints = await app.pool.query<{ position: string }>(
    'SELECT position::text FROM audit_verify_checkpoints',
  );
  t.same(
    checkpoints.rows.map((row) => Number(row.position)),
    [first.head!.position],
    'it leaves a checkpoint at its head',
  );

  await record(5, 'b');
  const second = await verify();
  t.match(second, { ok: true, since: first.head!.position });
  // What is new: the five events, the first run's own audit event, and the login's events.
  const added = second.head!.position - first.head!.position;
  t.equal(second.checked, added, 'only the links after the checkpoint are recomputed');
  t.ok(added >= 6 && added < 20);

  const full = await verify('?full=true');
  t.match(full, { ok: true, since: null });
  t.ok(full.checked > second.head!.position - 1, 'full=true recomputes every link');
});

t.test('a change after the checkpoint: the default run finds it', async (t) => {
  const { app, verify, record, su } = await setUp(t);
  await record(20, 'a');
  t.match(await verify(), { ok: true });
  await record(10, 'b');
  const { rows } = await su.query<{ id: string }>(
    "UPDATE audit_events SET outcome = 'failure' WHERE resource_id = 'b4' RETURNING id::text",
  );
  const result = await verify();
  t.match(result, {
    ok: false,
    firstBad: { eventId: rows[0]!.id, position: await positionOf(app, 'b4') },
  });
  const count = await app.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM audit_verify_checkpoints',
  );
  t.equal(count.rows[0]!.n, 1, 'a failed run leaves no checkpoint');
  t.match(await verify(), { ok: false }, 'and the next run still starts before it');
});

t.test('a change before the checkpoint: full=true and a range find it', async (t) => {
  const { app, verify, record, su } = await setUp(t);
  await record(30, 'a');
  const first = await verify();
  t.match(first, { ok: true });
  const { rows } = await su.query<{ id: string; at: Date }>(
    "UPDATE audit_events SET outcome = 'failure' WHERE resource_id = 'a7' RETURNING id::text, at",
  );
  const position = await positionOf(app, 'a7');
  t.ok(position < first.head!.position);
  const incremental = await verify();
  t.match(
    incremental,
    { ok: true, since: first.head!.position },
    'the default run does not look before the checkpoint (as documented)',
  );
  t.match(await verify('?full=true'), {
    ok: false,
    since: null,
    firstBad: { position, eventId: rows[0]!.id },
  });
  const from = new Date(rows[0]!.at.getTime() - 1).toISOString();
  t.match(await verify(`?from=${encodeURIComponent(from)}`), {
    ok: false,
    firstBad: { eventId: rows[0]!.id },
  });
});

t.test("the chain no longer holds the checkpoint's link: found", async (t) => {
  const { verify, record, su } = await setUp(t);
  await record(20, 'a');
  const first = await verify();
  const at = first.head!.position;
  await su.query(
    "UPDATE audit_chain SET link = decode(repeat('ab', 32), 'hex') WHERE position = $1",
    [at],
  );
  t.match(await verify(), {
    ok: false,
    since: at,
    firstBad: { position: at, problem: /checkpoint differs/ },
  });
});

t.test('a checkpoint written without the chain key: reported as forged', async (t) => {
  const { app, verify, record, su } = await setUp(t);
  await record(20, 'a');
  t.match(await verify(), { ok: true });
  const last = await app.pool.query<{ position: string }>(
    'SELECT max(position)::text AS position FROM audit_chain',
  );
  const top = Number(last.rows[0]!.position);
  // Copies a genuine row's link and key id, to a higher position, with a made-up seal.
  await su.query(
    `INSERT INTO audit_verify_checkpoints (position, link, key_id, mac, verified_at)
     SELECT $1, link, key_id, decode(repeat('00', 32), 'hex'), now()
       FROM audit_verify_checkpoints ORDER BY position DESC LIMIT 1`,
    [top + 1000],
  );
  t.match(await verify(), {
    ok: false,
    since: null,
    firstBad: { position: top + 1000, problem: /forged/ },
  });
});

t.test('the tail cut below the newest checkpoint: found without a saved head', async (t) => {
  const { verify, record, su } = await setUp(t);
  await record(20, 'a');
  const newest = (await verify()).head!.position;
  // Events and their links, as someone hiding the last ones would (the triggers are off).
  await su.query(
    `WITH cut AS (DELETE FROM audit_chain WHERE position > $1 RETURNING event_id)
     DELETE FROM audit_events WHERE id IN (SELECT event_id FROM cut)`,
    [newest - 10],
  );
  t.match(await verify(), {
    ok: false,
    firstBad: { position: newest, problem: /tail cut/ },
  });
});
