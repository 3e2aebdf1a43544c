import { Secret } from 'otpauth';
import t from 'tap';
import { totpCode } from '../../src/modules/auth/totp.js';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createUser, enrollTotp, fakeClock, login, loginAs } from '../helpers/auth.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
const attempt = (app: App, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload });

t.test('TOTP enrolment, confirmation, and login with a code', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'practitioner' });

  const enroll = await app.inject({
    method: 'POST',
    url: '/v1/auth/mfa/enroll',
    headers: user.headers,
  });
  t.equal(enroll.statusCode, 200);
  const { secret, otpauthUrl } = enroll.json<{ secret: string; otpauthUrl: string }>();
  t.match(secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret');
  t.match(otpauthUrl, /^otpauth:\/\/totp\/.*secret=[A-Z2-7]+/);
  t.match(otpauthUrl, /algorithm=SHA1&digits=6&period=30/);

  const stored = await app.pool.query<{ totp_secret: Buffer }>(
    'SELECT totp_secret FROM users WHERE id = $1',
    [user.id],
  );
  const raw = Buffer.from(new Uint8Array(Secret.fromBase32(secret).buffer));
  t.notOk(stored.rows[0]!.totp_secret.includes(raw), 'the secret is stored sealed, not in clear');
  t.notOk(stored.rows[0]!.totp_secret.toString('latin1').includes(secret));

  const unconfirmed = await attempt(app, { username: user.username, password: user.password });
  t.equal(unconfirmed.statusCode, 200, 'an unconfirmed enrolment does not change login yet');

  const wrong = await app.inject({
    method: 'POST',
    url: '/v1/auth/mfa/confirm',
    headers: user.headers,
    payload: { code: totpCode(secret, clock.now().getTime() + 10 * 60_000) },
  });
  t.equal(wrong.statusCode, 400, 'a wrong code does not confirm');
  const confirmCode = totpCode(secret, clock.now().getTime());
  const confirm = await app.inject({
    method: 'POST',
    url: '/v1/auth/mfa/confirm',
    headers: user.headers,
    payload: { code: confirmCode },
  });
  t.equal(confirm.statusCode, 200);
  const me = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: user.headers });
  t.equal(me.json<{ mfaEnabled: boolean }>().mfaEnabled, true);
  t.notMatch(me.body, new RegExp(secret));
  const again = await app.inject({
    method: 'POST',
    url: '/v1/auth/mfa/enroll',
    headers: user.headers,
  });
  t.equal(again.statusCode, 409, 'a confirmed factor is not replaced by a second enrolment');

  const withoutCode = await attempt(app, { username: user.username, password: user.password });
  t.equal(withoutCode.statusCode, 401, 'login without the code fails');
  t.match(withoutCode.json(), { mfaRequired: true });
  t.equal(
    (await attempt(app, { username: user.username, password: user.password, otp: confirmCode }))
      .statusCode,
    401,
    'the code used to confirm cannot log in',
  );
  t.equal(
    (await attempt(app, { username: user.username, password: user.password, otp: '000000' }))
      .statusCode,
    401,
    'a wrong code fails',
  );
  t.equal(
    (
      await attempt(app, {
        username: user.username,
        password: 'wrong password!!',
        otp: confirmCode,
      })
    ).statusCode,
    401,
  );

  clock.advance(30_000);
  const code = totpCode(secret, clock.now().getTime());
  const ok = await attempt(app, { username: user.username, password: user.password, otp: code });
  t.equal(ok.statusCode, 200, 'password and a fresh code log in');
  const replay = await attempt(app, {
    username: user.username,
    password: user.password,
    otp: code,
  });
  t.equal(replay.statusCode, 401, 'the same code never works twice');

  clock.advance(30_000);
  const previousStep = totpCode(secret, clock.now().getTime() - 30_000);
  t.equal(previousStep, code);
  t.equal(
    (await attempt(app, { username: user.username, password: user.password, otp: previousStep }))
      .statusCode,
    401,
    'not even within the drift window',
  );
});

t.test('MFA_REQUIRED_ROLES: an unenrolled admin gets a session that can only enrol', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, {
    env: { MFA_REQUIRED_ROLES: 'admin,auditor' },
    build: { now: clock.now },
  });
  const admin = await createUser(app, { role: 'admin' });
  const first = await login(app, { username: admin.username, password: admin.password });
  t.equal(first.mfaEnrollmentRequired, true);
  const headers = bearer(first.accessToken);

  const users = await app.inject({ method: 'GET', url: '/v1/users', headers });
  t.equal(users.statusCode, 403, 'no admin work before a second factor');
  t.match(users.json(), { mfaEnrollmentRequired: true, detail: /enrol/ });
  t.equal((await app.inject({ method: 'GET', url: '/v1/auth/me', headers })).statusCode, 200);

  const secret = await enrollTotp(app, headers, clock.now());
  const stillRestricted = await app.inject({ method: 'GET', url: '/v1/users', headers });
  t.equal(stillRestricted.statusCode, 403, 'the enrolment session stays restricted');

  const noCode = await attempt(app, { username: admin.username, password: admin.password });
  t.equal(noCode.statusCode, 401, 'once enrolled, the code is required');
  clock.advance(30_000);
  const full = await login(app, {
    username: admin.username,
    password: admin.password,
    otp: totpCode(secret, clock.now().getTime()),
  });
  t.equal(full.mfaEnrollmentRequired, false);
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/users', headers: bearer(full.accessToken) }))
      .statusCode,
    200,
  );

  // Roles outside the list log in normally; a restricted session ends with its first token.
  const reception = await createUser(app, { role: 'reception' });
  t.equal(
    (await login(app, { username: reception.username, password: reception.password }))
      .mfaEnrollmentRequired,
    false,
  );
  const auditor = await createUser(app, { role: 'auditor' });
  const restricted = await login(app, { username: auditor.username, password: auditor.password });
  t.equal(restricted.mfaEnrollmentRequired, true);
  clock.advance(15 * 60_000);
  const refreshed = await app.inject({
    method: 'POST',
    url: '/v1/auth/refresh',
    payload: { refreshToken: restricted.refreshToken },
  });
  t.equal(refreshed.statusCode, 401, 'an enrolment session lives 15 minutes at most');
});
