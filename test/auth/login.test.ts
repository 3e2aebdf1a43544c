import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createUser, login, loginAs } from '../helpers/auth.js';

t.test('login, me, logout', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await createUser(app, { role: 'practitioner' });
  const result = await login(app, { username: user.username, password: user.password });
  t.equal(result.expiresIn, 900);
  t.same(result.user, {
    id: user.id,
    username: user.username,
    role: 'practitioner',
    clinicIds: user.clinicIds,
  });
  const me = await app.inject({
    method: 'GET',
    url: '/v1/auth/me',
    headers: bearer(result.accessToken),
  });
  t.equal(me.statusCode, 200, me.body);
  t.match(me.json(), { id: user.id, username: user.username, mfaEnabled: false });
  t.notMatch(me.body, /hash|argon|secret/i);
  const out = await app.inject({
    method: 'POST',
    url: '/v1/auth/logout',
    headers: bearer(result.accessToken),
  });
  t.equal(out.statusCode, 204);
  const after = await app.inject({
    method: 'GET',
    url: '/v1/auth/me',
    headers: bearer(result.accessToken),
  });
  t.equal(after.statusCode, 401);
  const admin = await loginAs(app, { role: 'admin' });
  const list = await app.inject({ method: 'GET', url: '/v1/users', headers: admin.headers });
  t.equal(list.statusCode, 200, list.body);
});
