import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { masterKeyId } from '../../src/crypto/index.js';
import { totpCode } from '../../src/modules/auth/totp.js';
import { TEST_PASSWORD_HASHING, testConfig } from '../helpers/app.js';
import { bearer, createClinic, createUser, enrollTotp, fakeClock } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/process.js';

type App = Awaited<ReturnType<typeof buildApp>>;

/**
 * The README's "Rotating the master key", step by step, on one database: an auditor with a
 * second factor (MFA_REQUIRED_ROLES=auditor), a receptionist, clients and the audit chain.
 * At every step both log in through the real route and read (the auditor verifies the chain,
 * the receptionist reads every client so far).
 */
t.test('the README rotation procedure keeps MFA users, clients and the chain', async (t) => {
  const database = await createTestDatabase(t);
  const clock = fakeClock();
  const k0 = randomBytes(32).toString('base64');
  const k1 = randomBytes(32).toString('base64');
  const jwtSecret = randomBytes(48).toString('base64url');
  let app: App | undefined;
  const start = async (env: Record<string, string>) => {
    await app?.close();
    app = await buildApp({
      config: testConfig({
        DATABASE_URL: database.url,
        JWT_SECRET: jwtSecret,
        MFA_REQUIRED_ROLES: 'auditor',
        ...env,
      }),
      pool: database.pool,
      passwordHashing: TEST_PASSWORD_HASHING,
      throttledLoginDelayMs: 0,
      now: clock.now,
    });
    await app.ready();
    return app;
  };
  t.teardown(() => app?.close());

  // Step 0: one master key. Users, the auditor's second factor, a client.
  let current = await start({ MASTER_KEY: k0 });
  const clinicId = await createClinic(current);
  const auditor = await createUser(current, { role: 'auditor', clinicIds: [clinicId] });
  const reception = await createUser(current, { role: 'reception', clinicIds: [clinicId] });
  const enrolling = await current.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: auditor.username, password: auditor.password },
  });
  t.equal(enrolling.statusCode, 200);
  const secret = await enrollTotp(
    current,
    bearer(enrolling.json<{ accessToken: string }>().accessToken),
    clock.now(),
  );
  const clients = [(await makeClient(current, { clinicId })).id];
  const checked: number[] = [];

  const everyoneLogsInAndReads = async (step: string) => {
    clock.advance(31_000); // a fresh TOTP period: a code is accepted once
    const withoutCode = await current.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: auditor.username, password: auditor.password },
    });
    t.equal(withoutCode.statusCode, 401, `${step}: the auditor still needs a code`);
    const mfa = await current.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: {
        username: auditor.username,
        password: auditor.password,
        otp: totpCode(secret, clock.now().getTime()),
      },
    });
    t.equal(mfa.statusCode, 200, `${step}: the auditor logs in with password and TOTP`);
    const auditorToken = mfa.json<{ accessToken: string; mfaEnrollmentRequired: boolean }>();
    t.equal(auditorToken.mfaEnrollmentRequired, false, `${step}: a full session`);
    const verify = await current.inject({
      method: 'GET',
      // The whole chain each time (not only what is new since the last checkpoint).
      url: '/v1/audit-events/verify?full=true',
      headers: bearer(auditorToken.accessToken),
    });
    t.equal(verify.statusCode, 200, `${step}: the auditor verifies the chain`);
    t.match(verify.json(), { ok: true, firstBad: null }, `${step}: the chain verifies`);
    checked.push(verify.json<{ checked: number }>().checked);

    const desk = await current.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: reception.username, password: reception.password },
    });
    t.equal(desk.statusCode, 200, `${step}: reception logs in`);
    const headers = bearer(desk.json<{ accessToken: string }>().accessToken);
    for (const id of clients) {
      const read = await current.inject({ method: 'GET', url: `/v1/clients/${id}`, headers });
      t.equal(read.statusCode, 200, `${step}: reception reads client ${clients.indexOf(id)}`);
      t.equal(read.json<{ email: string }>().email, 'test.client@example.dk');
    }
    const search = await current.inject({
      method: 'POST',
      url: '/v1/clients/search',
      headers,
      payload: { email: 'TEST.client@example.dk' },
    });
    t.equal(search.statusCode, 200, `${step}: search by blind index`);
    t.equal(search.json<{ items: unknown[] }>().items.length, clients.length);
  };
  await everyoneLogsInAndReads('before');

  // Step 2: every process learns the new key first.
  current = await start({ MASTER_KEY: k0, MASTER_KEYS_OLD: k1 });
  await everyoneLogsInAndReads('step 2');

  // Step 3: switch. The TOTP secret is still under k0 (this answered 500 before the keyring
  // owned TOTP secrets), and new clients' keys are wrapped under k1.
  current = await start({ MASTER_KEY: k1, MASTER_KEYS_OLD: k0 });
  await everyoneLogsInAndReads('step 3');
  clients.push((await makeClient(current, { clinicId })).id);
  await everyoneLogsInAndReads('step 3, a second client');

  // Step 4: rotate-master-key, while this service runs.
  const rotated = await runCli('rotate-master-key', [], {
    DATABASE_URL: database.url,
    MASTER_KEY: k1,
    MASTER_KEYS_OLD: k0,
  });
  const out = rotated.stdout + rotated.stderr;
  t.equal(rotated.code, 0, out);
  t.match(out, / {2}dataKey: 1 re-wrapped, 0 unreadable, 0 remaining/, 'a count per kind');
  t.match(out, / {2}indexRoot: 1 re-wrapped, 0 unreadable, 0 remaining/);
  t.match(out, / {2}totpSecret: 1 re-wrapped, 0 unreadable, 0 remaining/);
  t.match(out, / {2}chainKey: 1 re-wrapped, 0 unreadable, 0 remaining/);
  const k1Id = masterKeyId(Buffer.from(k1, 'base64'));
  const versions = await database.pool.query<{ kek_id: string }>(
    `SELECT kek_id FROM client_data_keys UNION SELECT kek_id FROM blind_index_keys
     UNION SELECT kek_id FROM audit_chain_keys UNION SELECT totp_kek_id FROM users WHERE totp_secret IS NOT NULL`,
  );
  t.same(versions.rows, [{ kek_id: k1Id }], 'nothing is left under the old version');
  await everyoneLogsInAndReads('step 4');

  // Step 5: retire the old key.
  current = await start({ MASTER_KEY: k1 });
  // The whole chain, sealed before and after the switch, still verifies without the old key.
  await everyoneLogsInAndReads('step 5');
  t.ok(
    checked.every((n, i) => i === 0 || n > checked[i - 1]!),
    'every step verified a longer chain',
  );
});

t.test('a TOTP secret no configured key opens answers 503, audited and throttled', async (t) => {
  const database = await createTestDatabase(t);
  const clock = fakeClock();
  const k0 = randomBytes(32).toString('base64');
  const k1 = randomBytes(32).toString('base64');
  const apps: App[] = [];
  const start = async (env: Record<string, string>) => {
    const app = await buildApp({
      config: testConfig({ DATABASE_URL: database.url, ...env }),
      pool: database.pool,
      passwordHashing: TEST_PASSWORD_HASHING,
      throttledLoginDelayMs: 0,
      now: clock.now,
    });
    apps.push(app);
    await app.ready();
    return app;
  };
  t.teardown(async () => {
    for (const app of apps) await app.close();
  });
  const before = await start({ MASTER_KEY: k0 });
  const user = await createUser(before, { role: 'admin' });
  const signedIn = await before.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: user.username, password: user.password },
  });
  const secret = await enrollTotp(
    before,
    bearer(signedIn.json<{ accessToken: string }>().accessToken),
    clock.now(),
  );

  // The old key retired before rotate-master-key ran: the secret opens under no key here.
  const after = await start({ MASTER_KEY: k1 });
  clock.advance(31_000);
  const answer = await after.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: {
      username: user.username,
      password: user.password,
      otp: totpCode(secret, clock.now().getTime()),
    },
  });
  t.equal(answer.statusCode, 503, 'a clear problem, not a 500');
  t.match(answer.json(), { status: 503, detail: /master key/ });
  t.ok(answer.headers['retry-after']);
  t.notMatch(answer.body, /stack|DecryptionFailed/);
  const audited = await database.pool.query<{ outcome: string; reason: string }>(
    `SELECT outcome, reason FROM audit_events WHERE action = 'auth.login' AND actor_id = $1
     ORDER BY seq DESC LIMIT 1`,
    [user.id],
  );
  t.same(audited.rows, [{ outcome: 'failure', reason: 'otp_secret_unavailable' }], 'audited');
  const counted = await database.pool.query<{ n: number }>(
    // The account's counters (at this address, and its hourly ceiling): src/modules/auth/throttle.ts.
    `SELECT count(*)::int AS n FROM throttle_counters WHERE key LIKE 'login:account:' || $1 || '%'`,
    [user.id],
  );
  t.equal(counted.rows[0]!.n, 2, 'counted by the login throttle like any refused attempt');
  const stored = await database.pool.query<{ totp_kek_id: string }>(
    'SELECT totp_kek_id FROM users WHERE id = $1',
    [user.id],
  );
  t.equal(stored.rows[0]!.totp_kek_id, masterKeyId(Buffer.from(k0, 'base64')), 'names k0');
});
