/**
 * The request body examples of openapi.yaml are what /docs' "Try it out" sends as shown: each
 * must pass the route's validation as it stands. Ids in an example cannot name rows of a
 * database nobody has seen, so those answer 404 (or a state's 401/409); the examples that
 * need no id must succeed outright.
 */
import t from 'tap';
import { PERMISSIONS } from '../../src/access/permissions.js';
import type { Role } from '../../src/access/roles.js';
import { uuidv7 } from '../../src/db/ids.js';
import { buildTestApp } from '../helpers/app.js';
import { createUser, loginAs } from '../helpers/auth.js';

/** Operations whose example names no id and no earlier state: "Try it out" succeeds. */
const SUCCEED_AS_SHOWN = new Set([
  'login',
  'createClinic',
  'searchClients',
  'publishConsentTemplate',
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A 400 that names only the example's ids (`body.clinicIds.0`: no such clinic) is not its shape. */
function onlyUnknownIds(example: unknown, problem: { errors?: { path: string }[] }): boolean {
  const errors = problem.errors ?? [];
  return (
    errors.length > 0 &&
    errors.every(({ path }) => {
      const [part, ...keys] = path.split('.');
      let value: unknown = example;
      for (const key of keys) value = (value as Record<string, unknown> | undefined)?.[key];
      return part === 'body' && typeof value === 'string' && UUID.test(value);
    })
  );
}

type Operation = {
  operationId: string;
  requestBody?: { content: Record<string, { example?: unknown }> };
};

t.test('every request body example passes validation as shown', async (t) => {
  const { app } = await buildTestApp(t);
  // The README's first admin, whom the login example names.
  await createUser(app, {
    role: 'admin',
    username: 'admin',
    password: 'choose 12 to 128 characters',
  });
  const document = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
  const sessions = new Map<Role, Record<string, string>>();
  const headersFor = async (role: Role) => {
    let headers = sessions.get(role);
    if (!headers) {
      headers = (await loginAs(app, { role })).headers;
      sessions.set(role, headers);
    }
    return headers;
  };

  let checked = 0;
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const media = operation.requestBody?.content['application/json'];
      if (!operation.requestBody) continue;
      // A multipart upload (attachments) is a form in Swagger UI, file picker included: it has
      // parts, not one example body to send.
      if (!media && operation.requestBody.content['multipart/form-data']) continue;
      const where = `${operation.operationId} (${method.toUpperCase()} ${path})`;
      t.ok(media && media.example !== undefined, `${where}: has an example`);
      if (media?.example === undefined) continue;
      const url = path.replace(/\{([^}]+)\}/g, ':$1');
      const route = app.apiRoutes.find((r) => r.method === method.toUpperCase() && r.url === url);
      t.ok(route, `${where}: a registered route`);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (route?.permission) {
        Object.assign(headers, await headersFor(PERMISSIONS[route.permission][0]));
      }
      const res = await app.inject({
        method: method.toUpperCase() as 'POST',
        url: path.replace(/\{[^}]+\}/g, () => uuidv7()),
        headers,
        payload: JSON.stringify(media.example),
      });
      checked += 1;
      const refused =
        [413, 415, 422].includes(res.statusCode) ||
        res.statusCode >= 500 ||
        (res.statusCode === 400 && !onlyUnknownIds(media.example, res.json()));
      t.notOk(
        refused,
        `${where}: the example is accepted (${res.statusCode}: ${res.body.slice(0, 200)})`,
      );
      if (SUCCEED_AS_SHOWN.has(operation.operationId)) {
        t.ok(res.statusCode < 300, `${where}: succeeds as shown (${res.statusCode})`);
      }
    }
  }
  t.ok(checked >= SUCCEED_AS_SHOWN.size, `${checked} examples sent`);
});
