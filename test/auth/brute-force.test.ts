import t from 'tap';
import { THROTTLE } from '../../src/modules/auth/throttle.js';
import { THROTTLED_LOGIN_DELAY_MS } from '../../src/modules/auth/auth.plugin.js';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createUser, fakeClock, login, loginAs } from '../helpers/auth.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const attempt = (app: App, payload: Record<string, unknown>, remoteAddress = '10.0.0.1') =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload, remoteAddress });

t.test('unknown username and wrong password answer byte-identically', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await createUser(app, { role: 'reception' });
  const disabled = await createUser(app, { role: 'reception', disabled: true });
  const answers = [
    await attempt(app, { username: 'nobody-here', password: 'wrong password 1' }, '10.1.0.1'),
    await attempt(app, { username: user.username, password: 'wrong password 1' }, '10.1.0.2'),
    await attempt(app, { username: disabled.username, password: disabled.password }, '10.1.0.3'),
    await attempt(app, { username: user.username, password: `${user.password} ` }, '10.1.0.4'),
    await attempt(
      app,
      { username: user.username, password: user.password.toUpperCase() },
      '10.1.0.5',
    ),
  ];
  const strip = (headers: Record<string, unknown>) => {
    const copy = { ...headers };
    delete copy['x-request-id'];
    delete copy.date;
    return copy;
  };
  for (const res of answers) {
    t.equal(res.statusCode, 401);
    t.equal(res.body, answers[0]!.body, 'same body');
    t.same(
      strip(res.headers),
      strip(answers[0]!.headers),
      'same headers apart from the request id',
    );
  }
  t.notMatch(answers[0]!.body, /nobody|username does not|exist/i);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.1.0.6'))
      .statusCode,
    200,
    'the password exactly as typed works',
  );

  const { rows } = await app.pool.query<{
    actor_id: string | null;
    outcome: string;
    reason: string;
  }>("SELECT actor_id, outcome, reason FROM audit_events WHERE action = 'auth.login' ORDER BY seq");
  t.same(
    rows.map((row) => [row.actor_id, row.outcome, row.reason]),
    [
      [null, 'failure', 'unknown_user'],
      [user.id, 'failure', 'bad_password'],
      [disabled.id, 'failure', 'disabled'],
      [user.id, 'failure', 'bad_password'],
      [user.id, 'failure', 'bad_password'],
      [user.id, 'success', null],
    ],
    'every attempt is audited, with ids only',
  );
  const all = await app.pool.query('SELECT * FROM audit_events');
  t.notMatch(JSON.stringify(all.rows), new RegExp(`${user.username}|nobody-here|wrong password`));
});

t.test('failures per account at one address are throttled with 429 + Retry-After', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await createUser(app, { role: 'practitioner' });
  let failures = 0;
  let throttled: Awaited<ReturnType<typeof attempt>> | undefined;
  for (let i = 0; i < 100; i += 1) {
    const res = await attempt(
      app,
      { username: user.username, password: `guess number ${i}` },
      '10.2.0.1',
    );
    if (res.statusCode === 429) {
      throttled = res;
      break;
    }
    t.equal(res.statusCode, 401);
    failures += 1;
  }
  if (!throttled) throw new Error(`not throttled after ${failures} failures`);
  t.equal(failures, THROTTLE.loginPerAccountAndAddress);
  t.match(throttled.headers['retry-after'], /^\d+$/);
  t.ok(Number(throttled.headers['retry-after']) > 0);
  t.match(throttled.headers['content-type'], /^application\/problem\+json/);
  const correct = await attempt(
    app,
    { username: user.username, password: user.password },
    '10.2.0.1',
  );
  t.equal(correct.statusCode, 429, 'the failing address waits, even with the right password');
  const upperCase = await attempt(
    app,
    { username: user.username.toUpperCase(), password: 'x' },
    '10.2.0.1',
  );
  t.equal(upperCase.statusCode, 429, 'the account counter ignores case');
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.2.1.1'))
      .statusCode,
    200,
    'the rightful user logs in from an address that is not failing',
  );

  clock.advance(Number(throttled.headers['retry-after']) * 1000);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.2.0.1'))
      .statusCode,
    200,
    'after Retry-After the right password works from that address too',
  );
});

t.test(
  '15 wrong passwords from one forwarded address, then the right one from another',
  async (t) => {
    const { app } = await buildTestApp(t, { env: { TRUST_PROXY: '127.0.0.1' } });
    const user = await createUser(app, { role: 'admin' });
    const forwarded = (password: string, address: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { username: user.username, password },
        remoteAddress: '127.0.0.1',
        headers: { 'x-forwarded-for': address },
      });
    const statuses = [];
    for (let i = 0; i < 15; i += 1)
      statuses.push((await forwarded(`wrong ${i}`, '203.0.113.7')).statusCode);
    t.same(
      statuses,
      [...Array<number>(10).fill(401), ...Array<number>(5).fill(429)],
      'the guessing address is refused after 10',
    );
    const rightful = await forwarded(user.password, '198.51.100.20');
    t.equal(rightful.statusCode, 200, 'the right password from another address logs in');
    t.equal(
      (await forwarded(user.password, '203.0.113.7')).statusCode,
      429,
      'the guessing address stays refused, right password or not',
    );
  },
);

t.test('past 100 failures an hour the account refuses every address', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await createUser(app, { role: 'practitioner' });
  const wrong = (i: number) =>
    attempt(app, { username: user.username, password: `guess ${i}` }, `10.4.${i >> 8}.${i & 255}`);
  const statuses = new Map<number, number>();
  for (let i = 0; i < THROTTLE.loginAccountCeiling; i += 1) {
    const { statusCode } = await wrong(i);
    statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
    // A quarter-hour window of the per-address counters passes now and then; the ceiling's
    // hour does not.
    if (i % 30 === 29) clock.advance(10 * 60 * 1000);
  }
  t.same(
    Object.fromEntries(statuses),
    { 401: THROTTLE.loginAccountCeiling },
    'each address failed once',
  );
  const fresh = await attempt(
    app,
    { username: user.username, password: user.password },
    '10.5.0.1',
  );
  t.equal(
    fresh.statusCode,
    429,
    'the hard ceiling refuses the right password from a fresh address',
  );
  t.ok(Number(fresh.headers['retry-after']) > 0, 'with Retry-After');
  const other = await createUser(app, { role: 'practitioner' });
  t.equal(
    (await attempt(app, { username: other.username, password: other.password }, '10.5.0.1'))
      .statusCode,
    200,
    'other accounts are not affected',
  );
  clock.advance(THROTTLE.ceilingWindowMs);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.5.0.1'))
      .statusCode,
    200,
    'after the hour the right password works',
  );
});

t.test(
  'one normalisation for lookup and throttle: a dotted capital I is another name',
  async (t) => {
    const { app } = await buildTestApp(t);
    const user = await createUser(app, { role: 'admin', username: 'admin.ivar' });
    // JS lower-cases İ to "i̇" and PostgreSQL (ICU) to "i": neither may reach the account under a
    // throttle key of its own.
    const variant = await attempt(
      app,
      { username: 'admİn.ivar', password: user.password },
      '10.6.0.1',
    );
    t.equal(variant.statusCode, 401, 'İ does not find the account');
    const kelvin = await attempt(
      app,
      { username: 'admin.\u212Aivar', password: user.password },
      '10.6.0.1',
    );
    t.equal(kelvin.statusCode, 401, 'nor does the Kelvin sign');
    const { rows } = await app.pool.query<{ actor_id: string | null }>(
      "SELECT actor_id FROM audit_events WHERE action = 'auth.login' AND outcome = 'failure'",
    );
    t.same(rows, [{ actor_id: null }, { actor_id: null }], 'both counted as unknown names');
    t.equal(
      (await attempt(app, { username: 'ADMIN.IVAR', password: user.password }, '10.6.0.1'))
        .statusCode,
      200,
      'ASCII case is ignored',
    );
  },
);

t.test('failures per address are throttled too', async (t) => {
  const { app } = await buildTestApp(t);
  let failures = 0;
  let status = 0;
  for (let i = 0; i < 100; i += 1) {
    status = (await attempt(app, { username: `spray-${i}`, password: 'Winter2030!!' }, '10.3.0.1'))
      .statusCode;
    if (status === 429) break;
    failures += 1;
  }
  t.equal(status, 429, `throttled after ${failures} failures from one address`);
  t.ok(failures <= THROTTLE.loginPerAddress);
  const user = await createUser(app, { role: 'reception' });
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.3.0.2'))
      .statusCode,
    200,
    'another address is not affected',
  );
});

t.test('failed refreshes are throttled per address', async (t) => {
  const { app } = await buildTestApp(t);
  let status = 0;
  let failures = 0;
  for (let i = 0; i < 100; i += 1) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: `forged-${i}-${'x'.repeat(30)}` },
      remoteAddress: '10.4.0.1',
    });
    status = res.statusCode;
    if (status === 429) {
      t.match(res.headers['retry-after'], /^\d+$/);
      break;
    }
    failures += 1;
  }
  t.equal(status, 429, `throttled after ${failures} failures`);
  t.ok(failures <= THROTTLE.refreshPerAddress);
});

t.test('API_RATE_LIMIT_PER_MINUTE limits each user, not each address', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, {
    env: { API_RATE_LIMIT_PER_MINUTE: '3' },
    build: { now: clock.now },
  });
  const a = await loginAs(app, { role: 'practitioner' });
  const b = await loginAs(app, { role: 'practitioner' });
  const me = (headers: { authorization: string }) =>
    app.inject({ method: 'GET', url: '/v1/auth/me', headers, remoteAddress: '10.5.0.1' });
  for (let i = 0; i < 3; i += 1) t.equal((await me(a.headers)).statusCode, 200);
  const limited = await me(a.headers);
  t.equal(limited.statusCode, 429);
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.equal((await me(b.headers)).statusCode, 200, 'the same address, another user: allowed');
  clock.advance(60_000);
  t.equal((await me(a.headers)).statusCode, 200, 'a new minute');
  const fresh = await login(app, { username: a.username, password: a.password });
  t.equal((await me(bearer(fresh.accessToken))).statusCode, 200, 'login itself is not counted');
});

t.test('unset API_RATE_LIMIT_PER_MINUTE: no per-user limit', async (t) => {
  const { app } = await buildTestApp(t);
  const a = await loginAs(app, { role: 'reception' });
  for (let i = 0; i < 20; i += 1) {
    const res = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: a.headers });
    if (res.statusCode !== 200) t.fail(`request ${i}: ${res.statusCode}`);
  }
  const { rows } = await app.pool.query("SELECT 1 FROM throttle_counters WHERE key LIKE 'api:%'");
  t.equal(rows.length, 0, 'no counter is written');
});

t.test('a throttled login is answered after the production delay', async (t) => {
  t.equal(THROTTLED_LOGIN_DELAY_MS, 1000, 'the production delay');
  // buildApp's own default, not the test helper's zero.
  const { app } = await buildTestApp(t, { build: { throttledLoginDelayMs: undefined } });
  const user = await createUser(app, { role: 'reception' });
  const wrong = { username: user.username, password: 'wrong password 1' };
  for (let i = 0; i < THROTTLE.loginPerAccountAndAddress; i++) {
    t.equal((await attempt(app, wrong, '10.9.0.1')).statusCode, 401);
  }
  const started = performance.now();
  const refused = await attempt(app, wrong, '10.9.0.1');
  const waited = performance.now() - started;
  t.equal(refused.statusCode, 429);
  t.ok(waited >= THROTTLED_LOGIN_DELAY_MS - 5, `the 429 waited ${Math.round(waited)} ms`);
  t.ok(Number(refused.headers['retry-after']) > 0, 'and still says when to come back');
});
