import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { parse } from 'yaml';
import { openApiYaml } from '../scripts/openapi-document.js';
import { oneNamePerSchema } from '../src/plugins/openapi-document.js';
import { buildTestApp } from './helpers/app.js';

t.test('openapi.yaml is exactly what the application produces', async (t) => {
  const committed = readFileSync(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), 'utf8');
  const generated = await openApiYaml();
  t.equal(committed, generated, 'run `npm run openapi` and commit openapi.yaml');
});

t.test('the document is valid OpenAPI and served at /openapi.json and /docs', async (t) => {
  const { app } = await buildTestApp(t);
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  const document = res.json<Record<string, unknown>>();
  const validator = new Validator();
  const result = await validator.validate(document);
  t.ok(result.valid, JSON.stringify(result.errors ?? []).slice(0, 2000));
  const committed = parse(
    readFileSync(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'),
  ) as unknown;
  t.same(document, committed, 'served document equals the committed one');
  const docs = await app.inject({ method: 'GET', url: '/docs' });
  t.equal(docs.statusCode, 200);
  t.match(docs.headers['content-type'], /^text\/html/);
  t.match(docs.body, /swagger-ui/i);
  const initializer = await app.inject({
    method: 'GET',
    url: '/docs/static/swagger-initializer.js',
  });
  t.equal(initializer.statusCode, 200);
});

t.test('every error response is documented as problem details', async (t) => {
  const document = parse(
    readFileSync(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'),
  ) as {
    paths: Record<
      string,
      Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>
    >;
  };
  let errors = 0;
  for (const [route, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400 || !response.content) continue;
        errors += 1;
        t.same(
          Object.keys(response.content),
          ['application/problem+json'],
          `${method} ${route} ${status}`,
        );
      }
    }
  }
  t.ok(errors > 50, `${errors} error responses checked`);
});

/** Every schema object in the document, with where it is. */
function schemasOf(value: unknown, at = '#'): { at: string; schema: Record<string, unknown> }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => schemasOf(item, `${at}/${i}`));
  if (typeof value !== 'object' || value === null) return [];
  const node = value as Record<string, unknown>;
  return [
    { at, schema: node },
    ...Object.entries(node).flatMap(([key, child]) => schemasOf(child, `${at}/${key}`)),
  ];
}

t.test('every integer has real bounds and a format', async (t) => {
  const document = parse(
    readFileSync(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'),
  ) as unknown;
  const integers = schemasOf(document).filter(({ schema }) =>
    [schema.type].flat().includes('integer'),
  );
  t.ok(integers.length > 10, `${integers.length} integers`);
  for (const { at, schema } of integers) {
    t.match(schema, { minimum: Number, maximum: Number, format: /^int(32|64)$/ }, at);
    t.ok(Number(schema.minimum) > Number.MIN_SAFE_INTEGER, `${at}: a real lower bound`);
  }
});

t.test('every component is used, and each schema has one name', async (t) => {
  const document = parse(
    readFileSync(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'),
  ) as { paths: unknown; components: Record<string, Record<string, unknown>> };
  const refs = new Set(
    schemasOf(document)
      .map(({ schema }) => schema.$ref)
      .filter((ref): ref is string => typeof ref === 'string'),
  );
  for (const [kind, entries] of Object.entries(document.components)) {
    if (kind === 'securitySchemes') continue;
    for (const name of Object.keys(entries)) {
      t.ok(refs.has(`#/components/${kind}/${name}`), `${kind}/${name} is referenced`);
    }
  }
  const schemas = Object.keys(document.components.schemas ?? {});
  for (const name of schemas) {
    t.notOk(schemas.includes(`${name}Input`), `${name} has no ${name}Input twin`);
  }
});

t.test('one name per schema: the variant the routes use keeps the id', async (t) => {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const body = (name: string) => ({
    requestBody: { content: { 'application/json': { schema: ref(name) } } },
  });
  const document = {
    paths: { '/a': { post: body('CreateInput') } },
    components: {
      schemas: {
        Create: { type: 'object', properties: { at: ref('Part') } },
        CreateInput: { type: 'object', properties: { at: ref('PartInput') } },
        Part: { type: 'string' },
        PartInput: { type: 'string', maxLength: 3 },
        Unused: { type: 'string' },
        UnusedInput: { type: 'string' },
      },
    },
  };
  oneNamePerSchema(document);
  t.same(document.paths['/a'].post, body('Create'));
  t.same(document.components.schemas, {
    Create: { type: 'object', properties: { at: ref('Part') } },
    Part: { type: 'string', maxLength: 3 },
  });

  const both = {
    paths: {
      '/a': {
        post: {
          ...body('PartInput'),
          responses: { 200: { content: { 'application/json': { schema: ref('Part') } } } },
        },
      },
    },
    components: {
      schemas: { Part: { type: 'string' }, PartInput: { type: 'string', maxLength: 3 } },
    },
  };
  t.throws(() => oneNamePerSchema(both), /Part reads differently in requests and responses/);
});

t.test(
  'every operation: a unique camelCase operationId, a defined tag, its security',
  async (t) => {
    const { app } = await buildTestApp(t);
    const document = app.swagger() as unknown as {
      tags: { name: string; description?: string }[];
      security: unknown;
      paths: Record<
        string,
        Record<string, { operationId?: string; tags?: string[]; security?: unknown }>
      >;
    };
    const defined = new Set(document.tags.map((tag) => tag.name));
    t.same(document.security, [{ bearerAuth: [] }], 'a token unless an operation says otherwise');
    const ids = new Set<string>();
    const used = new Set<string>();
    const publicRoutes = new Set(
      app.apiRoutes.filter((route) => route.public).map((r) => `${r.method} ${r.url}`),
    );
    for (const [route, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const where = `${method.toUpperCase()} ${route}`;
        t.match(operation.operationId, /^[a-z][a-zA-Z0-9]+$/, `${where}: camelCase operationId`);
        t.notOk(ids.has(operation.operationId!), `${where}: operationId is unique`);
        ids.add(operation.operationId!);
        t.equal(operation.tags?.length, 1, `${where}: one tag`);
        for (const tag of operation.tags ?? []) {
          t.ok(defined.has(tag), `${where}: tag "${tag}" is defined at the top level`);
          used.add(tag);
        }
        const url = route.replace(/\{([^}]+)\}/g, ':$1');
        const isPublic =
          !url.startsWith('/v1/') || publicRoutes.has(`${method.toUpperCase()} ${url}`);
        t.same(operation.security, isPublic ? [] : [{ bearerAuth: [] }], `${where}: security`);
      }
    }
    t.same([...used].sort(), [...defined].sort(), 'every top-level tag is used');
    t.ok(
      document.tags.every((tag) => tag.description),
      'every tag is described',
    );
    t.equal(ids.size, app.apiRoutes.length + 2, 'every /v1 route, /healthz and /readyz');
  },
);

t.test('headers: each defined once, on the operations and statuses that have them', async (t) => {
  const { app } = await buildTestApp(t);
  type Operation = {
    parameters?: { $ref?: string; in?: string }[];
    responses: Record<string, { headers?: Record<string, { $ref: string }> }>;
  };
  const document = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
  const breakGlass = new Set(
    app.apiRoutes
      .filter((route) => route.permission === 'journal.read')
      .map((route) => `${route.method} ${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`),
  );
  t.ok(breakGlass.size >= 2, 'the journal reads');
  const idempotent = new Set(
    app.apiRoutes
      .filter((route) => route.idempotent)
      .map((route) => `${route.method} ${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`),
  );
  t.ok(idempotent.size >= 8, 'the client writes are retry-safe');
  for (const [route, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const where = `${method.toUpperCase()} ${route}`;
      const headers = (operation.parameters ?? [])
        .map((parameter) => parameter.$ref?.replace('#/components/parameters/', ''))
        .filter(Boolean);
      t.same(
        headers,
        [
          'X-Request-Id',
          ...(route.startsWith('/v1/') ? ['X-Purpose-Of-Use'] : []),
          ...(breakGlass.has(where) ? ['X-Break-Glass-Reason'] : []),
          ...(where === 'PATCH /v1/clients/{id}' || where === 'PATCH /v1/users/{id}'
            ? ['If-Match']
            : []),
          ...(idempotent.has(where) ? ['Idempotency-Key'] : []),
        ],
        `${where}: request headers`,
      );
      if (idempotent.has(where)) {
        for (const status of ['409', '422'])
          t.ok(operation.responses[status], `${where}: ${status} documented`);
        const success = Object.keys(operation.responses).filter((status) => status.startsWith('2'));
        t.ok(
          success.every((status) =>
            Object.keys(operation.responses[status]?.headers ?? {}).includes(
              'Idempotency-Replayed',
            ),
          ),
          `${where}: Idempotency-Replayed on its 2xx`,
        );
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        const names = Object.keys(response.headers ?? {});
        t.ok(names.includes('X-Request-Id'), `${where} ${status}: X-Request-Id`);
        t.equal(
          names.includes('Retry-After'),
          status === '429' || status === '503',
          `${where} ${status}: Retry-After exactly on 429 and 503`,
        );
      }
    }
  }
});

t.test('limits the server enforces outside JSON Schema are documented', async (t) => {
  const document = parse(
    readFileSync(path.resolve(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'),
  ) as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
  const { UserCreate, ConsentCreate, ClientCreate } = document.components.schemas;
  t.match(UserCreate?.properties.password, { minLength: 12, maxLength: 128 }, 'password 12-128');
  t.match(UserCreate?.properties.clinicIds, { uniqueItems: true });
  t.match(ConsentCreate?.properties.answers, { description: /16 KiB.*5 levels/ });
  t.match(ConsentCreate?.properties.signatureImage, {
    maxLength: Number,
    contentMediaType: 'image/png',
    description: /256 KiB/,
  });
  t.match(ClientCreate?.properties.dateOfBirth, { format: 'date' });
});

t.test('/docs needs nothing its CSP refuses, and works over plain HTTP', async (t) => {
  const { app } = await buildTestApp(t, { env: { TRUST_PROXY: '127.0.0.1' } });
  const page = await app.inject({ method: 'GET', url: '/docs/', headers: { host: 'docs.test' } });
  t.equal(page.statusCode, 200);
  const csp = String(page.headers['content-security-policy']);
  t.notMatch(csp, /upgrade-insecure-requests/, 'no upgrade: plain HTTP hosts keep their assets');
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'nothing inline is allowed');
  t.match(csp, /script-src 'self'/);
  t.match(csp, /style-src 'self'(;|$)/);
  // The page itself: only same-origin scripts and stylesheets, nothing inline.
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  t.notMatch(page.body, /<style|\sstyle=/, 'no inline style');
  t.notMatch(page.body, /(src|href)="(https?:)?\/\//, 'no asset from another origin');
  // Swagger UI's standalone top bar renders a logo with an inline <style>: not used.
  const initializer = await app.inject({
    method: 'GET',
    url: '/docs/static/swagger-initializer.js',
  });
  t.match(initializer.body, /"layout":\s*"BaseLayout"/);
  t.notOk(
    page.headers['cross-origin-opener-policy'],
    'no COOP a browser ignores (and logs) on HTTP',
  );
  t.notOk(page.headers['origin-agent-cluster']);
  const proxied = await app.inject({
    method: 'GET',
    url: '/docs/',
    headers: { host: 'docs.test', 'x-forwarded-proto': 'https' },
  });
  t.equal(proxied.headers['cross-origin-opener-policy'], 'same-origin', 'COOP over HTTPS');
});
