/**
 * Optimistic concurrency on users (API.md "Conventions", issue #17): GET and PATCH of a user
 * answer a strong ETag from its version counter; a stale If-Match answers 412 and nothing
 * changes; without If-Match a PATCH works as before.
 */
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';

t.test('ETag and If-Match on a user', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin' });
  const target = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [clinic],
    displayName: 'Dr. Etagsen',
  });
  const url = `/v1/users/${target.id}`;
  const read = await app.inject({ method: 'GET', url, headers: admin.headers });
  t.equal(read.statusCode, 200);
  const etag = read.headers.etag as string;
  t.match(etag, /^"\d+"$/, 'a strong ETag from the version counter');
  t.notMatch(etag, /Etagsen|practitioner/, 'no personal value in it');

  const patch = (ifMatch: string | undefined, payload: object) =>
    app.inject({
      method: 'PATCH',
      url,
      headers: { ...admin.headers, ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
      payload,
    });
  const first = await patch(etag, { displayName: 'Dr. Changed' });
  t.equal(first.statusCode, 200, 'a current If-Match');
  const next = first.headers.etag as string;
  t.match(next, /^"\d+"$/);
  t.not(next, etag, 'the ETag moves with each change');

  const events = async () =>
    Number(
      (
        await db.pool.query<{ n: string }>(
          "SELECT count(*) AS n FROM audit_events WHERE action = 'user.update'",
        )
      ).rows[0]!.n,
    );
  const stale = await patch(etag, { displayName: 'Dr. Overwritten', disabled: true });
  t.equal(stale.statusCode, 412, 'a stale If-Match');
  t.equal(stale.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.notMatch(stale.body, /Changed|Overwritten/, 'the problem holds no value');
  const after = await app.inject({ method: 'GET', url, headers: admin.headers });
  t.match(after.json(), { displayName: 'Dr. Changed', disabled: false }, 'nothing changed');
  t.equal(after.headers.etag, next, 'nor did the version');
  t.equal(await events(), 1, 'one update event');
  const me = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: target.headers });
  t.equal(me.statusCode, 200, 'a refused change ends no session');

  t.equal((await patch('*', { profession: 'læge' })).statusCode, 200, '* matches any');
  t.equal(
    (await patch(`"0", ${next}`, { profession: 'x' })).statusCode,
    412,
    'a list with no current tag',
  );
  const current = (await app.inject({ method: 'GET', url, headers: admin.headers })).headers
    .etag as string;
  t.equal((await patch(`W/${current}`, { profession: 'w' })).statusCode, 412, 'weak never matches');
  t.equal(
    (await patch(`"0", ${current}`, { profession: 'y' })).statusCode,
    200,
    'a list holding the current tag',
  );
  t.equal((await patch(undefined, { profession: 'z' })).statusCode, 200, 'without If-Match');

  const missing = await app.inject({
    method: 'PATCH',
    url: '/v1/users/01890000-0000-7000-8000-000000000000',
    headers: { ...admin.headers, 'if-match': '"1"' },
    payload: { displayName: 'Nobody' },
  });
  t.equal(missing.statusCode, 404, 'an unknown user is 404, whatever If-Match');
});

t.test('a second factor change moves the ETag (mfaEnabled is part of the user)', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = await loginAs(app, { role: 'admin' });
  const other = await loginAs(app, { role: 'auditor' });
  const url = `/v1/users/${other.id}`;
  const before = (await app.inject({ method: 'GET', url, headers: admin.headers })).headers.etag;
  const reset = await app.inject({
    method: 'POST',
    url: `${url}/mfa/reset`,
    headers: admin.headers,
  });
  t.equal(reset.statusCode, 204, reset.body);
  const after = (await app.inject({ method: 'GET', url, headers: admin.headers })).headers.etag;
  t.not(after, before, 'a reset is a change of the user');
  const stale = await app.inject({
    method: 'PATCH',
    url,
    headers: { ...admin.headers, 'if-match': before as string },
    payload: { displayName: 'Late' },
  });
  t.equal(stale.statusCode, 412);
});
