/**
 * Second-factor management (API.md "Auth"): an admin resets another user's factor, which ends
 * that user's sessions; never their own.
 */
import t from 'tap';
import { totpCode } from '../../src/modules/auth/totp.js';
import { buildTestApp } from '../helpers/app.js';
import { enrollTotp, fakeClock, login, loginAs } from '../helpers/auth.js';

t.test('POST /v1/users/:id/mfa/reset', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const admin = await loginAs(app, { role: 'admin' });
  const user = await loginAs(app, { role: 'practitioner' });
  const secret = await enrollTotp(app, user.headers, clock.now());
  clock.advance(60_000);
  const withFactor = await login(app, {
    username: user.username,
    password: user.password,
    otp: totpCode(secret, clock.now().getTime()),
  });
  const session = { authorization: `Bearer ${withFactor.accessToken}` };
  const noOtp = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: user.username, password: user.password },
  });
  t.equal(noOtp.statusCode, 401, 'before: the password alone is not enough');

  const own = await app.inject({
    method: 'POST',
    url: `/v1/users/${admin.id}/mfa/reset`,
    headers: admin.headers,
  });
  t.equal(own.statusCode, 403, 'an admin cannot reset their own factor');

  const reset = await app.inject({
    method: 'POST',
    url: `/v1/users/${user.id}/mfa/reset`,
    headers: admin.headers,
  });
  t.equal(reset.statusCode, 204, 'another user: 204');
  t.equal(reset.body, '');
  const me = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: session });
  t.equal(me.statusCode, 401, "the user's sessions ended");
  const refreshed = await app.inject({
    method: 'POST',
    url: '/v1/auth/refresh',
    payload: { refreshToken: withFactor.refreshToken },
  });
  t.equal(refreshed.statusCode, 401, 'their refresh token too');
  const again = await login(app, { username: user.username, password: user.password });
  t.equal(again.user.id, user.id, 'the password alone logs in now');
  const read = await app.inject({
    method: 'GET',
    url: `/v1/users/${user.id}`,
    headers: admin.headers,
  });
  t.equal(read.json<{ mfaEnabled: boolean }>().mfaEnabled, false, 'mfaEnabled: false');

  const { rows } = await app.pool.query<{
    outcome: string;
    resource_id: string;
    reason: string | null;
  }>(
    "SELECT outcome, resource_id, reason FROM audit_events WHERE action = 'auth.mfa.reset' ORDER BY seq",
  );
  t.same(
    rows,
    [
      { outcome: 'denied', resource_id: admin.id, reason: 'own_factor' },
      { outcome: 'success', resource_id: user.id, reason: null },
    ],
    'both audited',
  );
  const missing = await app.inject({
    method: 'POST',
    url: '/v1/users/01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f/mfa/reset',
    headers: admin.headers,
  });
  t.equal(missing.statusCode, 404, 'an unknown user: 404');
  const notAdmin = await app.inject({
    method: 'POST',
    url: `/v1/users/${admin.id}/mfa/reset`,
    headers: (await loginAs(app, { role: 'auditor' })).headers,
  });
  t.equal(notAdmin.statusCode, 403, 'only admins');
});

t.test('enrolling needs a login under 5 minutes old, or the password again', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'reception' });
  const enroll = (payload?: Record<string, unknown>) =>
    app.inject({
      method: 'POST',
      url: '/v1/auth/mfa/enroll',
      headers: user.headers,
      ...(payload && { payload }),
    });
  clock.advance(4 * 60_000);
  t.equal((await enroll()).statusCode, 200, 'a login 4 minutes old: 200');
  clock.advance(60_000);
  const stale = await enroll();
  t.equal(stale.statusCode, 401, 'a login 5 minutes old: 401');
  t.match(stale.json(), { detail: /5 minutes/ });
  t.equal(
    (await enroll({ password: 'not the password' })).statusCode,
    401,
    'a wrong password: 401',
  );
  const withPassword = await enroll({ password: user.password });
  t.equal(withPassword.statusCode, 200, 'the password again: 200');
  t.ok(withPassword.json<{ secret: string }>().secret, 'a secret');
  const { rows } = await app.pool.query<{ outcome: string; reason: string | null }>(
    "SELECT outcome, reason FROM audit_events WHERE action = 'auth.mfa.enroll' ORDER BY seq",
  );
  t.same(
    rows.map((row) => `${row.outcome}:${row.reason}`),
    ['success:null', 'denied:login_not_fresh', 'denied:bad_password', 'success:null'],
    'every attempt audited',
  );
});
