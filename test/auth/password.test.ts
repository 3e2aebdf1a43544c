import t from 'tap';
import { buildApp } from '../../src/app.js';
import {
  createPasswordHasher,
  Limiter,
  PRODUCTION_PASSWORD_HASHING,
} from '../../src/modules/auth/password.js';
import { buildTestApp, testConfig } from '../helpers/app.js';
import { createUser, login } from '../helpers/auth.js';

t.test('production parameters: argon2id at OWASP floor or above', async (t) => {
  t.same(PRODUCTION_PASSWORD_HASHING, { memoryCost: 19_456, timeCost: 2, parallelism: 1 });
  t.ok(PRODUCTION_PASSWORD_HASHING.memoryCost >= 19 * 1024, 'm ≥ 19 MiB');
  t.ok(PRODUCTION_PASSWORD_HASHING.timeCost >= 2, 't ≥ 2');

  // buildApp without a passwordHashing option uses exactly these.
  const { db } = await buildTestApp(t);
  const app = await buildApp({ config: testConfig({ DATABASE_URL: db.url }), pool: db.pool });
  t.teardown(() => app.close());
  await app.ready();
  t.match(app.identity.passwords.options, PRODUCTION_PASSWORD_HASHING);
  const user = await createUser(app, { role: 'reception' });
  const { rows } = await db.pool.query<{ password_hash: string }>(
    'SELECT password_hash FROM users WHERE id = $1',
    [user.id],
  );
  t.match(rows[0]!.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
});

t.test('a login rehashes a password stored with other parameters', async (t) => {
  const { app, db, config } = await buildTestApp(t);
  const user = await createUser(app, { role: 'reception' });
  const hashOf = async () =>
    (
      await db.pool.query<{ password_hash: string }>(
        'SELECT password_hash FROM users WHERE id = $1',
        [user.id],
      )
    ).rows[0]!.password_hash;
  t.match(await hashOf(), /m=1024,t=1,p=1/);
  const stronger = await buildApp({
    config,
    pool: db.pool,
    passwordHashing: { memoryCost: 2048, timeCost: 2, parallelism: 1 },
  });
  t.teardown(() => stronger.close());
  await stronger.ready();
  await login(stronger, { username: user.username, password: user.password });
  t.match(await hashOf(), /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/, 'rehashed on login');
  await login(stronger, { username: user.username, password: user.password });
});

t.test('passwords are compared exactly as typed', async (t) => {
  const { app } = await buildTestApp(t);
  const composed = 'Crème brûlée in Århus'; // NFC
  const user = await createUser(app, { role: 'reception', password: composed });
  const attempt = (password: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: user.username, password },
    });
  t.equal((await attempt(composed)).statusCode, 200);
  t.equal((await attempt(composed.normalize('NFD'))).statusCode, 401, 'no Unicode normalisation');
  t.equal((await attempt(` ${composed}`)).statusCode, 401, 'no trimming');
  t.equal((await attempt(`${composed} `)).statusCode, 401);
});

t.test('the hashing limiter queues, and answers 503 when it cannot wait', async (t) => {
  const limiter = new Limiter(1, 1, 60_000);
  let release!: () => void;
  const held = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
  const queued = limiter.run(async () => 'second');
  t.same(limiter.stats, { active: 1, queued: 1 });
  t.match(
    await limiter.run(async () => 'third').catch((error: unknown) => error),
    { status: 503 },
    'queue full → 503',
  );
  release();
  await held;
  t.equal(await queued, 'second', 'the queued one runs after');
  t.same(limiter.stats, { active: 0, queued: 0 });

  const timed = new Limiter(1, 10, 0);
  let releaseTimed!: () => void;
  const hold = timed.run(() => new Promise<void>((resolve) => (releaseTimed = resolve)));
  t.match(
    await timed.run(async () => 'late').catch((error: unknown) => error),
    { status: 503 },
    'queue timeout → 503',
  );
  releaseTimed();
  await hold;

  const hasher = createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
  t.ok(hasher.options.maxConcurrent >= 1, 'about the number of cores');
});

t.test('a login storm beyond the queue answers 503 with Retry-After', async (t) => {
  const { app } = await buildTestApp(t, {
    build: {
      passwordHashing: {
        memoryCost: 1024,
        timeCost: 1,
        parallelism: 1,
        maxConcurrent: 1,
        maxQueue: 0,
      },
    },
  });
  const user = await createUser(app, { role: 'reception' });
  let release!: () => void;
  const held = app.identity.passwords.limiter.run(
    () => new Promise<void>((resolve) => (release = resolve)),
  );
  const res = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: user.username, password: user.password },
  });
  t.equal(res.statusCode, 503);
  t.ok(res.headers['retry-after']);
  release();
  await held;
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { username: user.username, password: user.password },
      })
    ).statusCode,
    200,
  );
});
