import t from 'tap';
import type pg from 'pg';
import { buildApp } from '../../src/app.js';
import { createPool } from '../../src/db/pool.js';
import { THROTTLE } from '../../src/modules/auth/throttle.js';
import { KnownRefusals } from '../../src/modules/auth/known-refusals.js';
import { buildTestApp, TEST_PASSWORD_HASHING } from '../helpers/app.js';
import { createUser, fakeClock } from '../helpers/auth.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const attempt = (app: App, payload: Record<string, unknown>, remoteAddress: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload, remoteAddress });

/** Counts the statements a pool sends that touch the throttle counters. */
function counterStatements(pool: pg.Pool) {
  const seen: string[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: string }).text;
    if (text?.includes('throttle_counters')) seen.push(text);
    return query(...args);
  };
  return { count: () => seen.length };
}

t.test('a refusal the shared counter has made is repeated without asking it again', async (t) => {
  const clock = fakeClock();
  const { app, db, config } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await createUser(app, { role: 'practitioner' });
  const spyA = counterStatements(app.pool);

  // Another process on the same database: its own memory, the same counters.
  const poolB = createPool(db.url, { max: 3 });
  const appB = await buildApp({
    config,
    pool: poolB,
    passwordHashing: TEST_PASSWORD_HASHING,
    throttledLoginDelayMs: 0,
    now: clock.now,
  });
  t.teardown(async () => {
    await appB.close();
    await poolB.end().catch(() => undefined);
  });
  await appB.ready();
  const spyB = counterStatements(appB.pool);

  for (let i = 0; i < THROTTLE.loginPerAccountAndAddress; i += 1) {
    const res = await attempt(app, { username: user.username, password: `guess ${i}` }, '10.7.0.1');
    t.equal(res.statusCode, 401, `failure ${i + 1}`);
  }
  const counter = async () =>
    (
      await app.pool.query<{ count: number }>(
        "SELECT count FROM throttle_counters WHERE key LIKE 'login:account:%:ip:%'",
      )
    ).rows[0]?.count;
  t.equal(
    await counter(),
    THROTTLE.loginPerAccountAndAddress,
    'the shared counter is at its limit',
  );

  const before = spyA.count();
  const refusedA = [];
  for (let i = 0; i < 5; i += 1) {
    refusedA.push(
      await attempt(app, { username: user.username, password: user.password }, '10.7.0.1'),
    );
  }
  for (const res of refusedA) {
    t.equal(res.statusCode, 429);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
  }
  t.equal(
    refusedA[0]!.headers['retry-after'],
    String(THROTTLE.windowMs / 1000),
    'Retry-After: until the end of the window, as before',
  );
  t.equal(spyA.count(), before, 'no statement on throttle_counters for a known refusal');
  t.equal(await counter(), THROTTLE.loginPerAccountAndAddress, 'the counter is unchanged');

  const firstB = await attempt(
    appB,
    { username: user.username, password: user.password },
    '10.7.0.1',
  );
  t.equal(firstB.statusCode, 429, 'the other process is refused by the shared counter');
  t.equal(firstB.headers['retry-after'], refusedA[0]!.headers['retry-after'], 'same Retry-After');
  t.equal(spyB.count(), 1, 'having read it once');
  const secondB = await attempt(
    appB,
    { username: user.username, password: user.password },
    '10.7.0.1',
  );
  t.equal(secondB.statusCode, 429);
  t.equal(spyB.count(), 1, 'and then remembering it');

  const { rows } = await app.pool.query<{ actor_id: string; reason: string }>(
    "SELECT actor_id, reason FROM audit_events WHERE action = 'auth.login' AND reason = 'throttled'",
  );
  t.equal(rows.length, 7, 'every refusal is still audited, one event each');
  t.ok(
    rows.every((row) => row.actor_id === user.id),
    'naming the account tried',
  );

  clock.advance(THROTTLE.windowMs - 1000);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.7.0.1'))
      .statusCode,
    429,
    'a second before the window ends: still refused',
  );
  clock.advance(1000);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.7.0.1'))
      .statusCode,
    200,
    'at the end of the window the right password works again',
  );
  t.equal(
    (await attempt(appB, { username: user.username, password: user.password }, '10.7.0.1'))
      .statusCode,
    200,
    'in the other process too',
  );
});

t.test('refusals learnt from a counter read, per address, expire with the window', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  // Counted by another process: written straight into the shared table.
  await app.pool.query(
    'INSERT INTO throttle_counters (key, count, window_started_at) VALUES ($1, $2, $3)',
    ['login:ip:10.8.0.1', THROTTLE.loginPerAddress, new Date(clock.now().getTime() - 60_000)],
  );
  const spy = counterStatements(app.pool);
  const user = await createUser(app, { role: 'reception' });
  const first = await attempt(
    app,
    { username: user.username, password: user.password },
    '10.8.0.1',
  );
  t.equal(first.statusCode, 429, 'the shared counter refuses');
  t.equal(first.headers['retry-after'], String(THROTTLE.windowMs / 1000 - 60));
  t.equal(spy.count(), 1);
  const second = await attempt(app, { username: 'nobody', password: 'whatever123' }, '10.8.0.1');
  t.equal(second.statusCode, 429, 'any username from that address');
  t.equal(spy.count(), 1, 'without a counter read');
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.8.0.2'))
      .statusCode,
    200,
    'another address is not affected',
  );
  clock.advance(THROTTLE.windowMs - 60_000);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.8.0.1'))
      .statusCode,
    200,
    'the window has ended',
  );
});

t.test('attempts queued for hashing when the limit is reached are refused unhashed', async (t) => {
  const { app } = await buildTestApp(t, {
    build: { passwordHashing: { ...TEST_PASSWORD_HASHING, memoryCost: 8192, maxConcurrent: 1 } },
  });
  const user = await createUser(app, { role: 'practitioner' });
  const attempts = 40;
  const answers = await Promise.all(
    Array.from({ length: attempts }, (_, i) =>
      attempt(app, { username: user.username, password: `guess ${i}` }, '10.9.0.1'),
    ),
  );
  const codes = answers.map((res) => res.statusCode);
  const failures = codes.filter((code) => code === 401).length;
  t.ok(
    codes.every((code) => code === 401 || code === 429),
    'only 401 and 429',
  );
  t.ok(failures >= THROTTLE.loginPerAccountAndAddress, `${failures} failures counted`);
  t.ok(failures < attempts, `the rest (${attempts - failures}) refused without hashing`);
  for (const res of answers.filter((r) => r.statusCode === 429))
    t.match(res.headers['retry-after'], /^\d+$/);
  const { rows } = await app.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_events WHERE action = 'auth.login'",
  );
  t.equal(rows[0]!.n, attempts, 'every attempt audited');
});

t.test('the memory of refusals is bounded', async (t) => {
  const known = new KnownRefusals(100);
  for (let i = 0; i < 10_000; i += 1) known.remember(`key-${i}`, 2_000 + i, 1_000);
  t.equal(known.size, 100, 'never more than maxKeys');
  t.not(known.retryAfterMs(['key-9999'], 1_000), null, 'the newest are kept');
  t.equal(known.retryAfterMs(['key-0'], 1_000), null, 'the oldest were dropped');
  t.equal(known.retryAfterMs(['key-9999', 'key-9950'], 1_000), 10_999);

  known.remember('past', 500, 1_000);
  t.equal(known.retryAfterMs(['past'], 1_000), null, 'an ended window is not remembered');
  t.equal(known.retryAfterMs(['key-9999'], 20_000), null, 'nor kept past its end');
  t.equal(known.size, 99, 'and dropped when met');

  // Full of expired entries: they go first, before any live one.
  const mixed = new KnownRefusals(3);
  mixed.remember('live', 10_000, 0);
  mixed.remember('dead-1', 100, 0);
  mixed.remember('dead-2', 100, 0);
  mixed.remember('new', 10_000, 500);
  t.equal(mixed.size, 2);
  t.not(mixed.retryAfterMs(['live'], 500), null, 'a live refusal outlasts expired ones');
  t.throws(() => new KnownRefusals(0));
});
