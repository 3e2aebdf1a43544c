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

t.test('failures per username are throttled with 429 + Retry-After', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await createUser(app, { role: 'practitioner' });
  let failures = 0;
  let throttled: Awaited<ReturnType<typeof attempt>> | undefined;
  for (let i = 0; i < 100; i += 1) {
    // A different address each time: only the username counter can stop this.
    const res = await attempt(
      app,
      { username: user.username, password: `guess number ${i}` },
      `10.2.0.${i}`,
    );
    if (res.statusCode === 429) {
      throttled = res;
      break;
    }
    t.equal(res.statusCode, 401);
    failures += 1;
  }
  if (!throttled) throw new Error(`not throttled after ${failures} failures`);
  t.ok(failures < 100 && failures <= THROTTLE.loginPerUsername);
  t.match(throttled.headers['retry-after'], /^\d+$/);
  t.ok(Number(throttled.headers['retry-after']) > 0);
  t.match(throttled.headers['content-type'], /^application\/problem\+json/);
  const correct = await attempt(
    app,
    { username: user.username, password: user.password },
    '10.2.1.1',
  );
  t.equal(correct.statusCode, 429, 'even the right password waits');
  const unknownThrottled = await attempt(
    app,
    { username: user.username.toUpperCase(), password: 'x' },
    '10.2.1.2',
  );
  t.equal(unknownThrottled.statusCode, 429, 'the username counter ignores case');

  const other = await createUser(app, { role: 'practitioner' });
  t.equal(
    (await attempt(app, { username: other.username, password: other.password }, '10.2.0.1'))
      .statusCode,
    200,
    'other users are not locked out',
  );

  clock.advance(Number(throttled.headers['retry-after']) * 1000);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password }, '10.2.1.1'))
      .statusCode,
    200,
    'after Retry-After the right password works',
  );
});

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
  for (let i = 0; i < THROTTLE.loginPerUsername; i++) {
    t.equal((await attempt(app, wrong, `10.9.0.${i}`)).statusCode, 401);
  }
  const started = performance.now();
  const refused = await attempt(app, wrong, '10.9.1.1');
  const waited = performance.now() - started;
  t.equal(refused.statusCode, 429);
  t.ok(waited >= THROTTLED_LOGIN_DELAY_MS - 5, `the 429 waited ${Math.round(waited)} ms`);
  t.ok(Number(refused.headers['retry-after']) > 0, 'and still says when to come back');
});
