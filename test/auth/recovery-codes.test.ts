/**
 * MFA recovery codes (API.md "Auth"): ten single-use codes at confirmation, shown once, stored
 * only as hashes; login takes one instead of an otp, audited and throttled like an otp; a reset
 * or a new enrolment voids them.
 */
import t from 'tap';
import { checkRecoveryCode, spendRecoveryCode } from '../../src/modules/auth/recovery-codes.js';
import { THROTTLE } from '../../src/modules/auth/throttle.js';
import { totpCode } from '../../src/modules/auth/totp.js';
import { buildTestApp, TEST_PASSWORD_HASHING } from '../helpers/app.js';
import { bearer, fakeClock, login, loginAs } from '../helpers/auth.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
const attempt = (app: App, payload: Record<string, unknown>, remoteAddress = '10.0.0.1') =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload, remoteAddress });

async function enrolWithCodes(app: App, headers: { authorization: string }, at: Date) {
  const enroll = await app.inject({ method: 'POST', url: '/v1/auth/mfa/enroll', headers });
  const { secret } = enroll.json<{ secret: string }>();
  const confirm = await app.inject({
    method: 'POST',
    url: '/v1/auth/mfa/confirm',
    headers,
    payload: { code: totpCode(secret, at.getTime()) },
  });
  return { secret, confirm, codes: confirm.json<{ recoveryCodes: string[] }>().recoveryCodes };
}

const loginEvents = (app: App, userId: string) =>
  app.pool
    .query<{ outcome: string; reason: string | null }>(
      "SELECT outcome, reason FROM audit_events WHERE action = 'auth.login' AND actor_id = $1 ORDER BY seq",
      [userId],
    )
    .then((result) => result.rows);

t.test('confirmation answers ten codes, stored only as argon2 hashes', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'practitioner' });
  const { confirm, codes } = await enrolWithCodes(app, user.headers, clock.now());
  t.equal(confirm.statusCode, 200);
  t.equal(codes.length, 10);
  t.equal(new Set(codes).size, 10, 'all different');
  for (const code of codes) t.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);

  const { rows } = await app.pool.query<{ row: string }>(
    'SELECT row_to_json(r)::text AS row FROM recovery_codes r WHERE user_id = $1',
    [user.id],
  );
  t.equal(rows.length, 10);
  const dump = rows.map((r) => r.row).join('\n');
  for (const code of codes) {
    const canonical = code.replaceAll('-', '');
    t.notOk(dump.includes(canonical.slice(4)), 'the secret part is never stored');
    t.ok(dump.includes(canonical.slice(0, 4)), 'the lookup prefix is');
  }
  t.equal(rows.filter((r) => r.row.includes('$argon2id$')).length, 10, 'argon2id hashes');

  const me = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: user.headers });
  t.notOk(
    codes.some((code) => me.body.includes(code)),
    'never shown again',
  );
});

t.test('a recovery code logs in once, in any spelling, and is audited', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'practitioner' });
  const { codes } = await enrolWithCodes(app, user.headers, clock.now());
  const creds = { username: user.username, password: user.password };

  const first = await attempt(app, { ...creds, recoveryCode: codes[0] });
  t.equal(first.statusCode, 200, 'password and a recovery code log in');
  t.equal((await attempt(app, { ...creds, recoveryCode: codes[0] })).statusCode, 401, 'not twice');
  const spaced = codes[1]!.toLowerCase().replaceAll('-', ' ');
  t.equal((await attempt(app, { ...creds, recoveryCode: spaced })).statusCode, 200, 'any case');
  const wrongCode = `${codes[2]!.slice(0, 15)}${codes[2]!.endsWith('0') ? '1' : '0'}`;
  t.equal((await attempt(app, { ...creds, recoveryCode: wrongCode })).statusCode, 401);
  t.equal((await attempt(app, { ...creds, recoveryCode: 'ZZZZ' })).statusCode, 401, 'malformed');
  const badPassword = await attempt(app, {
    username: user.username,
    password: 'wrong password!!',
    recoveryCode: codes[2],
  });
  t.equal(badPassword.statusCode, 401, 'a code does not stand in for the password');
  t.equal(
    (await attempt(app, { ...creds, recoveryCode: codes[2] })).statusCode,
    200,
    'failed attempts did not spend the code',
  );
  const both = await attempt(app, { ...creds, otp: '123456', recoveryCode: codes[3] });
  t.equal(both.statusCode, 400, 'otp and recoveryCode together: 400');

  const events = await loginEvents(app, user.id);
  t.same(
    events.slice(1), // the first is loginAs's password-only login
    [
      { outcome: 'success', reason: 'recovery_code' },
      { outcome: 'failure', reason: 'recovery_code_invalid' },
      { outcome: 'success', reason: 'recovery_code' },
      { outcome: 'failure', reason: 'recovery_code_invalid' },
      { outcome: 'failure', reason: 'recovery_code_invalid' },
      { outcome: 'failure', reason: 'bad_password' },
      { outcome: 'success', reason: 'recovery_code' },
    ],
    'each attempt audited, a recovery-code login told apart',
  );
  const { rows } = await app.pool.query<{ used: number }>(
    'SELECT count(*)::int AS used FROM recovery_codes WHERE user_id = $1 AND used_at IS NOT NULL',
    [user.id],
  );
  t.equal(rows[0]!.used, 3);
});

t.test('one code used by many logins at once: exactly one wins', async (t) => {
  const clock = fakeClock();
  // Six hashing slots: the six checks pass side by side, then race to spend the code.
  const { app } = await buildTestApp(t, {
    build: { now: clock.now, passwordHashing: { ...TEST_PASSWORD_HASHING, maxConcurrent: 6 } },
  });
  const user = await loginAs(app, { role: 'admin' });
  const { codes } = await enrolWithCodes(app, user.headers, clock.now());
  const answers = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      attempt(
        app,
        { username: user.username, password: user.password, recoveryCode: codes[4] },
        `10.0.1.${i}`,
      ),
    ),
  );
  t.same(
    answers.map((res) => res.statusCode).sort(),
    [200, 401, 401, 401, 401, 401],
    'one 200, the rest 401',
  );
  const events = (await loginEvents(app, user.id)).slice(1);
  t.equal(events.filter((e) => e.reason === 'recovery_code').length, 1);
  t.equal(events.filter((e) => e.outcome === 'failure').length, 5);
  t.ok(events.every((e) => e.reason?.startsWith('recovery_code')));
});

t.test('wrong recovery codes are throttled like wrong otps', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'practitioner' });
  const { codes } = await enrolWithCodes(app, user.headers, clock.now());
  const creds = { username: user.username, password: user.password };
  for (let i = 0; i < THROTTLE.loginPerAccountAndAddress; i += 1) {
    const res = await attempt(app, { ...creds, recoveryCode: `AAAA-BBBB-CCCC-${1000 + i}` });
    t.equal(res.statusCode, 401);
  }
  const refused = await attempt(app, { ...creds, recoveryCode: codes[0] });
  t.equal(refused.statusCode, 429, 'the failing address is refused even with a right code');
  t.ok(Number(refused.headers['retry-after']) > 0);
  const elsewhere = await attempt(app, { ...creds, recoveryCode: codes[0] }, '10.9.9.9');
  t.equal(elsewhere.statusCode, 200, 'another address still logs in');
});

t.test('a reset and a new enrolment void the old codes', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const admin = await loginAs(app, { role: 'admin' });
  const user = await loginAs(app, { role: 'practitioner' });
  const { codes: old } = await enrolWithCodes(app, user.headers, clock.now());
  const reset = await app.inject({
    method: 'POST',
    url: `/v1/users/${user.id}/mfa/reset`,
    headers: admin.headers,
  });
  t.equal(reset.statusCode, 204);
  const count = async () =>
    (
      await app.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = $1',
        [user.id],
      )
    ).rows[0]!.n;
  t.equal(await count(), 0, 'the reset deleted them');

  const again = await login(app, { username: user.username, password: user.password });
  clock.advance(60_000);
  const { codes: fresh } = await enrolWithCodes(app, bearer(again.accessToken), clock.now());
  t.equal(await count(), 10);
  const creds = { username: user.username, password: user.password };
  t.equal((await attempt(app, { ...creds, recoveryCode: old[1] })).statusCode, 401, 'old: void');
  t.equal((await attempt(app, { ...creds, recoveryCode: fresh[1] })).statusCode, 200, 'new: ok');
});

t.test('spending: of two transactions that checked the same code, one spends it', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'practitioner' });
  const { codes } = await enrolWithCodes(app, user.headers, clock.now());
  const lookup = codes[5]!.slice(0, 4);
  for (const code of [codes[5]!, codes[5]!]) {
    const check = await checkRecoveryCode(
      app.db,
      app.identity.passwords,
      user.id,
      code,
      () => false,
    );
    t.same(check, { ok: true, lookup }, 'both checks pass before either spends');
  }
  const spent = await Promise.all(
    [1, 2].map(() =>
      app.db.transaction((tx) => spendRecoveryCode(tx, user.id, lookup, clock.now())),
    ),
  );
  t.same(spent.sort(), [false, true]);
});
