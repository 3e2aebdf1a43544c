import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import t from 'tap';
import pg from 'pg';
import { uuidv7 } from '../../src/db/ids.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';

type Page = {
  items: {
    id: string;
    at: string;
    action: string;
    actorId: string | null;
    clientId: string | null;
  }[];
  nextCursor: string | null;
};

t.test('auditor queries, pages and filters events; the query is itself audited', async (t) => {
  const { app } = await buildTestApp(t);
  const auditor = await loginAs(app, { role: 'auditor' });
  const clientId = uuidv7();
  const actorId = uuidv7();
  for (let i = 0; i < 5; i += 1) {
    await app.audit.record(SYSTEM_CONTEXT, [
      { action: 'client.read', outcome: 'success', clientId, actorId, actorRole: 'practitioner' },
    ]);
  }
  await app.audit.record(SYSTEM_CONTEXT, [{ action: 'journal.read', outcome: 'denied', actorId }]);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/v1/audit-events?clientId=${clientId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await app.inject({ method: 'GET', url, headers: auditor.headers });
    t.equal(res.statusCode, 200);
    const page = res.json<Page>();
    t.ok(page.items.length <= 2);
    seen.push(...page.items.map((item) => item.at + item.id));
    cursor = page.nextCursor;
  } while (cursor);
  t.equal(seen.length, 5, 'every event of the client, once');
  t.same(seen, [...seen].sort().reverse(), 'newest first');

  const denied = await app.inject({
    method: 'GET',
    url: `/v1/audit-events?actorId=${actorId}&outcome=denied`,
    headers: auditor.headers,
  });
  t.same(
    denied.json<Page>().items.map((item) => item.action),
    ['journal.read'],
  );
  const byAction = await app.inject({
    method: 'GET',
    url: `/v1/audit-events?action=audit.query&actorId=${auditor.id}`,
    headers: { ...auditor.headers, 'x-purpose-of-use': 'complaint' },
  });
  t.ok(byAction.json<Page>().items.length >= 2, "the auditor's own queries are in the log");

  const future = await app.inject({
    method: 'GET',
    url: '/v1/audit-events?from=2999-01-01T00:00:00Z',
    headers: auditor.headers,
  });
  t.same(future.json(), { items: [], nextCursor: null });

  for (const bad of [
    'cursor=nope',
    'limit=501',
    'actorId=jane@example.dk',
    'from=yesterday',
    'x=1',
  ]) {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/audit-events?${bad}`,
      headers: auditor.headers,
    });
    t.equal(res.statusCode, 400, bad);
  }
});

t.test('who may read: auditor the log, auditor and admin an access log', async (t) => {
  const { app } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const { id: clientId } = await makeClient(app, { clinicId });
  t.equal((await app.inject({ method: 'GET', url: '/v1/audit-events' })).statusCode, 401);
  for (const role of ['reception', 'practitioner', 'admin'] as const) {
    const { headers } = await loginAs(app, { role, clinicIds: [clinicId] });
    for (const path of ['', '/export', '/verify']) {
      const res = await app.inject({ method: 'GET', url: `/v1/audit-events${path}`, headers });
      t.equal(res.statusCode, 403, `${role} ${path || 'query'}`);
    }
    const log = await app.inject({
      method: 'GET',
      url: `/v1/clients/${clientId}/access-log`,
      headers,
    });
    t.equal(log.statusCode, role === 'admin' ? 200 : 403, `${role} access log`);
  }
});

t.test("a client's access log: newest first, and reading it is recorded", async (t) => {
  const { app } = await buildTestApp(t);
  const clinicId = await createClinic(app);
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [clinicId] });
  const outsider = await loginAs(app, { role: 'auditor' });
  const { id: clientId } = await makeClient(app, { clinicId });
  await app.audit.record(SYSTEM_CONTEXT, [{ action: 'client.read', outcome: 'success', clientId }]);
  await app.audit.record(SYSTEM_CONTEXT, [
    { action: 'client.read', outcome: 'success', clientId: uuidv7() },
  ]);
  const first = await app.inject({
    method: 'GET',
    url: `/v1/clients/${clientId}/access-log`,
    headers: auditor.headers,
  });
  t.equal(first.statusCode, 200);
  t.same(
    first.json<Page>().items.map((item) => item.action),
    ['client.read', 'client.create'],
  );
  const second = await app.inject({
    method: 'GET',
    url: `/v1/clients/${clientId}/access-log`,
    headers: auditor.headers,
  });
  t.match(second.json<Page>().items[0], {
    action: 'client.access_log.read',
    actorId: auditor.id,
    clientId,
  });
  const foreign = await app.inject({
    method: 'GET',
    url: `/v1/clients/${clientId}/access-log`,
    headers: outsider.headers,
  });
  t.equal(
    foreign.statusCode,
    200,
    'an auditor of another clinic reads it too: auditors are organisation-wide',
  );
  t.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/v1/clients/not-a-uuid/access-log',
        headers: auditor.headers,
      })
    ).statusCode,
    400,
  );
});

t.test(
  'verify: ok on an untouched chain, names the tampered event, checks a saved head',
  async (t) => {
    const { app, db } = await buildTestApp(t);
    const auditor = await loginAs(app, { role: 'auditor' });
    for (let i = 0; i < 50; i += 1) {
      await app.audit.record(SYSTEM_CONTEXT, [
        { action: 'client.read', outcome: 'success', resourceId: `r${i}` },
      ]);
    }
    const clean = await app.inject({
      method: 'GET',
      url: '/v1/audit-events/verify',
      headers: auditor.headers,
    });
    t.equal(clean.statusCode, 200);
    const result = clean.json<{
      ok: boolean;
      checked: number;
      head: { position: number; hash: string };
    }>();
    t.match(result, { ok: true, firstBad: null, pending: 0 });
    t.ok(result.checked >= 50);

    const withHead = await app.inject({
      method: 'GET',
      url: `/v1/audit-events/verify?head=${result.head.position}:${result.head.hash}`,
      headers: auditor.headers,
    });
    t.match(withHead.json(), { ok: true });
    const wrongHead = await app.inject({
      method: 'GET',
      url: `/v1/audit-events/verify?head=${result.head.position}:${'0'.repeat(64)}`,
      headers: auditor.headers,
    });
    t.match(wrongHead.json(), { ok: false, firstBad: { position: result.head.position } });
    // A position no chain can reach (0, or past what a JSON number holds exactly) is a bad
    // request, not a 500 from the answer's bounds.
    for (const position of ['0', '9007199254740992', '999999999999999999']) {
      const absurd = await app.inject({
        method: 'GET',
        url: `/v1/audit-events/verify?head=${position}:${'0'.repeat(64)}`,
        headers: auditor.headers,
      });
      t.equal(absurd.statusCode, 400, `head position ${position}`);
    }

    const su = new pg.Client({ connectionString: db.adminUrl });
    await su.connect();
    t.teardown(() => su.end());
    await su.query("SET session_replication_role = 'replica'");
    const { rows } = await su.query<{ id: string }>(
      "UPDATE audit_events SET outcome = 'failure' WHERE resource_id = 'r7' RETURNING id::text",
    );
    // r7 is before the checkpoint the clean run left: the whole chain is recomputed to find it
    // (verify-incremental.test.ts has the default run's guarantees).
    const tampered = await app.inject({
      method: 'GET',
      url: '/v1/audit-events/verify?full=true',
      headers: auditor.headers,
    });
    t.match(tampered.json(), { ok: false, firstBad: { eventId: rows[0]!.id } });
  },
);

t.test('export: NDJSON and CSV, escaped and guarded against formulas', async (t) => {
  const { app, db } = await buildTestApp(t);
  const auditor = await loginAs(app, { role: 'auditor' });
  const nasty = '=HYPERLINK("http://evil"),"quoted"\nnext line';
  await db.pool.query(
    `INSERT INTO audit_events (id, at, action, outcome, user_agent, reason)
     VALUES ($1, now(), 'client.read', 'success', $2, '+1 reason, with comma'),
            ($3, now(), 'client.read', 'success', '@sum', '-minus')`,
    [uuidv7(), nasty, uuidv7()],
  );
  const ndjson = await app.inject({
    method: 'GET',
    url: '/v1/audit-events/export',
    headers: auditor.headers,
  });
  t.equal(ndjson.statusCode, 200);
  t.match(ndjson.headers['content-type'], /^application\/x-ndjson/);
  const lines = ndjson.body
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { userAgent: string });
  t.ok(
    lines.some((line) => line.userAgent === nasty),
    'NDJSON keeps the value exactly',
  );

  const csv = await app.inject({
    method: 'GET',
    url: '/v1/audit-events/export?format=csv',
    headers: auditor.headers,
  });
  t.equal(csv.statusCode, 200);
  t.match(csv.headers['content-type'], /^text\/csv/);
  t.match(csv.headers['content-disposition'], /^attachment; filename="audit-events-.*\.csv"$/);
  t.match(csv.body, /^id,at,actorId,actorRole,action,outcome,/);
  t.ok(
    csv.body.includes(`"'=HYPERLINK(""http://evil""),""quoted""\nnext line"`),
    'quoted, doubled, guarded',
  );
  t.ok(csv.body.includes(`"'+1 reason, with comma"`));
  t.ok(csv.body.includes(`,'@sum,false,'-minus,`));
  t.notOk(
    /(^|,)[=+@-]/m.test(csv.body.split('\r\n').slice(1).join('\r\n')),
    'no cell starts a formula',
  );

  const exportEvents = await db.pool.query<{ resource_id: string }>(
    "SELECT resource_id FROM audit_events WHERE action = 'audit.export'",
  );
  t.same(exportEvents.rows.map((row) => row.resource_id).sort(), ['csv', 'ndjson']);
});

t.test('reading the log fails closed when its own event cannot be written', async (t) => {
  const { app, db } = await buildTestApp(t);
  const auditor = await loginAs(app, { role: 'auditor' });
  await app.audit.record(SYSTEM_CONTEXT, [{ action: 'client.read', outcome: 'success' }]);
  await db.pool.query(
    "ALTER TABLE audit_events ADD CONSTRAINT test_refuse CHECK (action NOT LIKE 'audit.%') NOT VALID",
  );
  for (const path of ['', '/export', '/export?format=csv', '/verify']) {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/audit-events${path}`,
      headers: auditor.headers,
    });
    t.equal(res.statusCode, 503, path || 'query');
    t.equal(res.headers['retry-after'], '5');
    t.notMatch(res.body, /client\.read/, 'no data');
  }
});
