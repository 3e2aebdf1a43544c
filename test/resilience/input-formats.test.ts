/**
 * Every format the OpenAPI document declares on an input is enforced (issue #16: "uuid and
 * date-time are unchecked"): for each /v1 operation, each path or query parameter and each
 * top-level body property whose schema has `format` uuid, date-time or date gets a value that
 * breaks the format (or the 1900–9999 range of API.md "Conventions") in a request that is
 * otherwise valid, sent as a role allowed to call the route, and must answer 400 naming it.
 */
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { allows } from '../../src/access/permissions.js';
import { ROLES, type Role } from '../../src/access/roles.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { ROUTE_CASES } from '../access/matrix.cases.js';

const BROKEN: Record<string, readonly string[]> = {
  uuid: ['not-a-uuid', '01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0', '01970f4e8a2b7c3d9e4f5a6b7c8d9e0f0'],
  'date-time': [
    '2030-02-30T10:00:00Z',
    '2030-01-01 10:00',
    '0000-01-01T00:00:00Z',
    '1899-12-31T23:59:59Z',
    '9999-12-31T23:30:00-01:00',
  ],
  date: ['2030-02-30', '0000-01-01', '1899-12-31', '20300101'],
};

interface Schema {
  $ref?: string;
  format?: string;
  properties?: Record<string, Schema>;
  anyOf?: Schema[];
  oneOf?: Schema[];
}
interface Operation {
  parameters?: { in: string; name: string; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

t.test('every declared input format is checked', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const document = app.swagger() as unknown as {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, Schema> };
  };
  const resolve = (schema: Schema | undefined): Schema | undefined => {
    if (schema?.$ref) return resolve(document.components.schemas[schema.$ref.split('/').pop()!]);
    return schema;
  };
  const formatOf = (schema: Schema | undefined): string | undefined => {
    const resolved = resolve(schema);
    return (
      resolved?.format ??
      [...(resolved?.anyOf ?? []), ...(resolved?.oneOf ?? [])]
        .map((s) => resolve(s)?.format)
        .find(Boolean)
    );
  };

  const ownClinicId = await createClinic(app);
  const otherClinicId = await createClinic(app);
  let checked = 0;
  for (const route of app.apiRoutes) {
    const key = `${route.method} ${route.url}`;
    const operation =
      document.paths[route.url.replace(/:([A-Za-z]+)/g, '{$1}')]?.[route.method.toLowerCase()];
    const build = ROUTE_CASES[key]?.build.own;
    if (!operation || !build) {
      t.fail(`${key}: documented and buildable`);
      continue;
    }
    const targets: { where: 'path' | 'query' | 'body'; name: string; format: string }[] = [];
    for (const parameter of operation.parameters ?? []) {
      const format = formatOf(parameter.schema);
      if ((parameter.in === 'path' || parameter.in === 'query') && format && BROKEN[format])
        targets.push({ where: parameter.in, name: parameter.name, format });
    }
    const body = resolve(operation.requestBody?.content?.['application/json']?.schema);
    for (const [name, property] of Object.entries(body?.properties ?? {})) {
      const format = formatOf(property);
      if (format && BROKEN[format]) targets.push({ where: 'body', name, format });
    }
    if (targets.length === 0) continue;

    const role: Role =
      ROLES.find((r) => route.permission !== undefined && allows(route.permission, r)) ?? 'admin';
    const { headers } = await loginAs(app, { role, clinicIds: [ownClinicId] });
    const seed = await build({ app, ownClinicId, otherClinicId, role, headers, now: clock.now });
    const url = typeof seed.url === 'string' ? seed.url : '';
    for (const target of targets) {
      for (const value of BROKEN[target.format]!) {
        const request: InjectOptions = { ...seed };
        if (target.where === 'query') {
          const [path, search = ''] = url.split('?', 2) as [string, string?];
          const params = new URLSearchParams(search);
          params.set(target.name, value);
          request.url = `${path}?${params.toString()}`;
        } else if (target.where === 'path') {
          // The route's pattern says which segment holds the parameter.
          const at = route.url.split('/').indexOf(`:${target.name}`);
          const [path, search] = url.split('?', 2) as [string, string?];
          const segments = path.split('/');
          segments[at] = encodeURIComponent(value);
          request.url = segments.join('/') + (search ? `?${search}` : '');
        } else {
          request.payload = { ...(seed.payload as Record<string, unknown>), [target.name]: value };
        }
        const res = await app.inject(request);
        const where = `${key} as ${role}: ${target.where} ${target.name} = ${JSON.stringify(value)}`;
        checked += 1;
        if (res.statusCode !== 400) {
          t.fail(`${where} -> ${res.statusCode}: ${res.body.slice(0, 200)}`);
          continue;
        }
        const paths = (res.json<{ errors?: { path: string }[] }>().errors ?? []).map((e) => e.path);
        const expected = `${target.where === 'query' ? 'querystring' : target.where === 'path' ? 'params' : 'body'}.${target.name}`;
        t.ok(paths.includes(expected), `${where} -> 400 naming ${expected}`);
      }
    }
  }
  t.ok(checked > 40, `checked ${checked} malformed inputs`);
});
