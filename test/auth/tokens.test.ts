import { createHmac, generateKeyPairSync, randomUUID, sign as rsaSign } from 'node:crypto';
import t from 'tap';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../src/modules/auth/tokens.js';
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from '../../src/modules/auth/session.js';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createClinic, fakeClock, login, loginAs } from '../helpers/auth.js';

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token built by hand: any header, any claims, any signature. */
function forge(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signer: (input: string) => Buffer | string,
) {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = signer(input);
  return `${input}.${typeof signature === 'string' ? signature : signature.toString('base64url')}`;
}

t.test('token attacks answer 401', async (t) => {
  const clock = fakeClock();
  const { app, config } = await buildTestApp(t, { build: { now: clock.now } });
  const user = await loginAs(app, { role: 'practitioner' });
  const me = (token: string) =>
    app.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(token) });
  t.equal((await me(user.token)).statusCode, 200, 'the genuine token works');

  const [, payloadPart] = user.token.split('.');
  const claims = JSON.parse(Buffer.from(payloadPart!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  t.match(claims, {
    sub: user.id,
    sid: String,
    jti: String,
    role: 'practitioner',
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    iat: Number,
    exp: Number,
  });
  t.equal(Number(claims.exp) - Number(claims.iat), ACCESS_TOKEN_TTL_SECONDS, '15 minutes');
  const hs256 = (input: string) => createHmac('sha256', config.jwtSecret).update(input).digest();
  const header = { alg: 'HS256', typ: 'at+jwt' };
  t.equal((await me(forge(header, claims, hs256))).statusCode, 200, 'the forger is faithful');

  const cases: [string, string][] = [
    ['alg none', forge({ alg: 'none', typ: 'at+jwt' }, claims, () => '')],
    ['alg None', forge({ alg: 'None', typ: 'at+jwt' }, claims, () => '')],
    ['no signature', `${b64(header)}.${b64(claims)}.`],
    ['wrong typ JWT', forge({ alg: 'HS256', typ: 'JWT' }, claims, hs256)],
    ['no typ', forge({ alg: 'HS256' }, claims, hs256)],
    ['wrong audience', forge(header, { ...claims, aud: 'another-service' }, hs256)],
    ['wrong issuer', forge(header, { ...claims, iss: 'https://evil.example' }, hs256)],
    [
      'not yet valid',
      forge(header, { ...claims, nbf: Math.floor(clock.now().getTime() / 1000) + 600 }, hs256),
    ],
    [
      'expired',
      forge(
        header,
        {
          ...claims,
          exp: Math.floor(clock.now().getTime() / 1000) - 1,
          iat: Number(claims.iat) - 900,
        },
        hs256,
      ),
    ],
    [
      'another secret',
      forge(header, claims, (i) => createHmac('sha256', 'x'.repeat(48)).update(i).digest()),
    ],
    ['role raised in the claims', forge(header, { ...claims, role: 'admin' }, hs256)],
    ['someone else as subject', forge(header, { ...claims, sub: randomUUID() }, hs256)],
    ['an unknown session', forge(header, { ...claims, sid: randomUUID() }, hs256)],
    ...['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud', 'role'].map((claim): [string, string] => {
      const without = { ...claims };
      delete without[claim];
      return [`without ${claim}`, forge(header, without, hs256)];
    }),
    ['the refresh token', user.refreshToken],
    ['garbage', 'not-a-token'],
  ];

  // HS/RS confusion: an RS256 token, and an HS256 token keyed with a public key's PEM.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  cases.push([
    'RS256',
    forge({ alg: 'RS256', typ: 'at+jwt' }, claims, (i) =>
      rsaSign('sha256', Buffer.from(i), privateKey),
    ),
  ]);
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  cases.push([
    'HS256 keyed with a public key',
    forge(header, claims, (i) => createHmac('sha256', pem).update(i).digest()),
  ]);

  for (const [name, token] of cases) {
    const res = await me(token);
    t.equal(res.statusCode, 401, name);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
  }
  const scheme = await app.inject({
    method: 'GET',
    url: '/v1/auth/me',
    headers: { authorization: `Basic ${user.token}` },
  });
  t.equal(scheme.statusCode, 401, 'only the Bearer scheme');
  t.equal((await app.inject({ method: 'GET', url: '/v1/auth/me' })).statusCode, 401, 'no token');

  // One flipped bit in any byte of the header, the claims or the signature.
  const parts = user.token.split('.');
  let flipped = 0;
  for (let part = 0; part < 3; part += 1) {
    const bytes = Buffer.from(parts[part]!, 'base64url');
    for (let i = 0; i < bytes.length; i += 1) {
      const copy = Buffer.from(bytes);
      copy[i] = copy[i]! ^ 0x01;
      const token = parts.map((p, j) => (j === part ? copy.toString('base64url') : p)).join('.');
      const res = await me(token);
      if (res.statusCode !== 401) t.fail(`flipped byte ${i} of part ${part}: ${res.statusCode}`);
      flipped += 1;
    }
  }
  t.ok(flipped > 100, `${flipped} single-byte changes, all refused`);
  t.equal((await me(user.token)).statusCode, 200, 'the genuine token still works');

  clock.advance(ACCESS_TOKEN_TTL_SECONDS * 1000);
  t.equal((await me(user.token)).statusCode, 401, 'expired after 15 minutes');
});

t.test('sessions: logout, disabling, a change of role or clinics end them at once', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = await loginAs(app, { role: 'admin' });
  const me = (headers: { authorization: string }) =>
    app.inject({ method: 'GET', url: '/v1/auth/me', headers });
  const patch = (id: string, payload: Record<string, unknown>) =>
    app.inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: admin.headers, payload });

  const a = await loginAs(app, { role: 'practitioner' });
  const aSecond = await login(app, { username: a.username, password: a.password });
  t.equal(
    (await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: a.headers })).statusCode,
    204,
  );
  t.equal((await me(a.headers)).statusCode, 401, 'logged out');
  t.equal((await me(bearer(aSecond.accessToken))).statusCode, 200, 'the other session lives on');
  const refreshAfterLogout = await app.inject({
    method: 'POST',
    url: '/v1/auth/refresh',
    payload: { refreshToken: a.refreshToken },
  });
  t.equal(refreshAfterLogout.statusCode, 401, "a logged-out session's refresh token is dead");

  const b = await loginAs(app, { role: 'reception' });
  t.equal((await patch(b.id, { disabled: true })).statusCode, 200);
  t.equal((await me(b.headers)).statusCode, 401, 'disabled');
  const relogin = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: b.username, password: b.password },
  });
  t.equal(relogin.statusCode, 401, 'a disabled user cannot log in');

  const c = await loginAs(app, { role: 'reception' });
  t.equal((await patch(c.id, { role: 'auditor' })).statusCode, 200);
  t.equal((await me(c.headers)).statusCode, 401, 'role changed');
  const again = await login(app, { username: c.username, password: c.password });
  t.equal(again.user.role, 'auditor', 'a new login carries the new role');

  const d = await loginAs(app, { role: 'practitioner' });
  t.equal((await patch(d.id, { clinicIds: [await createClinic(app)] })).statusCode, 200);
  t.equal((await me(d.headers)).statusCode, 401, 'clinics changed');

  const e = await loginAs(app, { role: 'practitioner' });
  t.equal((await patch(e.id, { displayName: 'New name' })).statusCode, 200);
  t.equal((await me(e.headers)).statusCode, 200, 'a new display name keeps the session');
});

t.test('refresh: rotation, reuse revokes the session, idle and absolute limits', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const refresh = (refreshToken: string) =>
    app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
  const me = (token: string) =>
    app.inject({ method: 'GET', url: '/v1/auth/me', headers: bearer(token) });

  const user = await loginAs(app, { role: 'practitioner' });
  const first = await refresh(user.refreshToken);
  t.equal(first.statusCode, 200);
  const pair = first.json<{ accessToken: string; refreshToken: string; expiresIn: number }>();
  t.not(pair.refreshToken, user.refreshToken, 'rotated');
  t.equal(pair.expiresIn, 900);
  t.equal((await me(pair.accessToken)).statusCode, 200);

  t.equal((await refresh(user.refreshToken)).statusCode, 401, 'a used refresh token is refused');
  t.equal((await refresh(pair.refreshToken)).statusCode, 401, 'and the whole session is revoked');
  t.equal((await me(pair.accessToken)).statusCode, 401, 'its access tokens too');
  t.equal((await me(user.token)).statusCode, 401);
  t.equal((await refresh('A'.repeat(43))).statusCode, 401, 'an unknown refresh token');

  // Idle: no request and no refresh for 30 minutes.
  const idle = await login(app, { username: user.username, password: user.password });
  clock.advance(SESSION_IDLE_MS);
  t.equal((await refresh(idle.refreshToken)).statusCode, 401, 'idle for 30 minutes');

  // Absolute: refreshing every 14 minutes keeps a session for 12 hours, not longer.
  let current = await login(app, { username: user.username, password: user.password });
  let token = current.refreshToken;
  const start = clock.now().getTime();
  let lastOk = start;
  for (;;) {
    clock.advance(14 * 60 * 1000);
    const res = await refresh(token);
    if (res.statusCode !== 200) {
      t.equal(res.statusCode, 401);
      break;
    }
    lastOk = clock.now().getTime();
    token = res.json<{ refreshToken: string }>().refreshToken;
  }
  t.ok(lastOk - start < SESSION_ABSOLUTE_MS, 'no refresh after 12 hours');
  t.ok(lastOk - start >= SESSION_ABSOLUTE_MS - 14 * 60 * 1000, 'but every one before');
  current = await login(app, { username: user.username, password: user.password });
  t.equal((await me(current.accessToken)).statusCode, 200, 'a new login starts afresh');
});
