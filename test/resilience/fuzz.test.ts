/**
 * Property-based fuzzing of every /v1 route as every role (and anonymously), driven by the
 * OpenAPI document the application serves: a valid request per route (from the permission
 * matrix's builders) is mutated (wrong types, missing and extra keys, boundary numbers, huge,
 * empty, NUL, other control-character and lone-surrogate strings, dates outside 1900–9999,
 * numbers past 2^53 − 1, nesting just past 32 levels and far past it, `__proto__`/`constructor`
 * keys, raw bodies, odd content types, duplicate query parameters, odd methods, odd headers).
 *
 * Every answer must be: not 5xx; a status the document declares for that operation, in one of
 * the media types it declares there, with a body matching that media type's schema (ajv, with
 * formats: JSON and problem+json parsed, NDJSON line by line against its contentSchema, CSV
 * as a string) and every header it declares as sent; free of stack traces and SQL; and the
 * process's global prototypes must be untouched. FUZZ_RUNS (runs per route, default 24) and
 * FUZZ_SEED set the size and the seed; `npm run soak` raises the runs.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { InjectOptions, LightMyRequestResponse as Response } from 'fastify';
import fc from 'fast-check';
import t from 'tap';
import { ROLES, type Role } from '../../src/access/roles.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { ROUTE_CASES, type MatrixContext } from '../access/matrix.cases.js';
import { recordSummary } from './summary.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 24);
const SEED = Number(process.env.FUZZ_SEED ?? 20261125);

type Who = Role | 'anonymous';
const WHO: readonly Who[] = [...ROLES, 'anonymous'];

/** A body that carries a stack frame, a driver message or SQL text. */
const LEAK =
  /\bat [^\n]*:\d+:\d+|node_modules|\.ts:\d+|\bSELECT\b|\bINSERT INTO\b|\bDELETE FROM\b|relation "|violates|syntax error|duplicate key|Failed query|ECONNREFUSED/i;

const huge = 'x'.repeat(200_000);
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i += 1) value = { a: value };
  return value;
};

const weirdString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\uD800',
    'x\uDFFFy',
    huge,
    "' OR 1=1 --",
    '../../etc/passwd',
    '%00',
    '${7*7}',
    '2030-02-30',
    '1990-13-01',
    '0000-00-00',
    '-1',
    '1e309',
    'NaN',
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    '\u202e\u0301\uFEFF',
    // Control characters (API.md: refused everywhere, tab/CR/LF only in free text).
    'a\tb',
    'a\r\nb',
    'x\u0001',
    'x\u001f',
    'x\u007f',
    'x\u0085',
    'x\u009f',
    // Dates and date-times at and past the edges of 1900–9999 (PostgreSQL has no year 0).
    '0000-01-01T00:00:00Z',
    '0000-01-01',
    '1899-12-31T23:59:59Z',
    '1900-01-01T00:00:00Z',
    '9999-12-31T23:59:59Z',
    '9999-12-31T23:30:00-01:00',
    '+010000-01-01T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    // Numbers a JSON double cannot hold exactly, as text (query strings, cursors, heads).
    '9007199254740993',
    '99999999999999999999',
    `9007199254740993:${'a'.repeat(64)}`,
    Buffer.from('0000-01-01T00:00:00Z|01970f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f').toString('base64url'),
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const weirdNumber = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    -1,
    1,
    0.5,
    2 ** 31,
    2 ** 53 - 1,
    2 ** 53 + 2,
    -(2 ** 63),
    2 ** 64,
    1e308,
    500,
    501,
  ),
  fc.integer(),
  fc.double({ noNaN: true }),
);
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  weirdString,
  weirdNumber,
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    [],
    {},
    [null],
    { __proto__: null },
    deepObject(31),
    deepObject(33),
    deepObject(2_000),
    [[[[[]]]]],
    { 'k\u0000': 1 },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);
const oddKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'role',
    'clinicId',
    'authorId',
    'id',
    'createdAt',
    '',
  ),
  fc.string({ maxLength: 12 }),
);

type Mutation =
  | { kind: 'valid' }
  | { kind: 'set'; key: string | null; value: unknown }
  | { kind: 'delete'; key: string | null }
  | { kind: 'replaceBody'; value: unknown }
  | { kind: 'raw'; payload: string; contentType: string | null }
  | { kind: 'contentType'; contentType: string }
  | { kind: 'query'; key: string | null; value: string; duplicate: boolean }
  | { kind: 'path'; segment: string }
  | { kind: 'method'; method: string; withBody: boolean }
  | { kind: 'header'; name: string; value: string };

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map(String.fromCharCode),
});

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'valid' }),
  fc.record({
    kind: fc.constant('set' as const),
    key: fc.option(oddKey, { nil: null }),
    value: weirdValue,
  }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.option(oddKey, { nil: null }) }),
  fc.record({ kind: fc.constant('replaceBody' as const), value: weirdValue }),
  fc.record({
    kind: fc.constant('raw' as const),
    payload: fc.oneof(
      fc.constantFrom(
        '',
        '{',
        'null',
        '"just a string"',
        '{"__proto__":{"polluted":true}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
        '{"a":1,"a":2}',
        deepArray(100_000),
        deepArray(33),
        `{"a":${deepArray(40)}}`,
        '{"x":"\\u0000"}',
        `{"x":"${'y'.repeat(1_100_000)}"}`,
        '\uFEFF{}',
        '{"email":"\\ud800"}',
      ),
      fc.string({ maxLength: 60 }),
    ),
    contentType: fc.option(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain'),
      { nil: null },
    ),
  }),
  fc.record({
    kind: fc.constant('contentType' as const),
    contentType: fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/xml',
      'application/json, text/plain',
    ),
  }),
  fc.record({
    kind: fc.constant('query' as const),
    key: fc.option(
      fc.constantFrom(
        'limit',
        'cursor',
        'clinicId',
        'from',
        'to',
        'format',
        'head',
        'actorId',
        'clientId',
        'batchNumber',
        'x',
      ),
      { nil: null },
    ),
    value: fc.oneof(
      weirdString.filter((s) => s.length < 1_000),
      fc.constantFrom(
        '0',
        '-1',
        '500',
        '501',
        '1e3',
        '1.5',
        '',
        'ndjson',
        'csv',
        '9007199254740993',
        '0000-01-01T00:00:00Z',
        'a\u0000b',
      ),
    ),
    duplicate: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('path' as const),
    segment: fc.oneof(
      weirdString.filter((s) => s.length < 1_000),
      fc.uuid().map((u) => u.toUpperCase()),
    ),
  }),
  fc.record({
    kind: fc.constant('method' as const),
    method: fc.constantFrom(
      'PROPFIND',
      'TRACE',
      'OPTIONS',
      'HEAD',
      'GET',
      'POST',
      'PUT',
      'PATCH',
      'DELETE',
      'MKCOL',
      'SEARCH',
    ),
    withBody: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('header' as const),
    name: fc.constantFrom(
      'authorization',
      'x-request-id',
      'x-purpose-of-use',
      'x-break-glass-reason',
      'accept',
      'content-length',
    ),
    value: fc.oneof(
      printable,
      fc.constantFrom(
        'Bearer x',
        'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
        'Basic YTpi',
        'x'.repeat(9_000),
        '-1',
      ),
    ),
  }),
);

function setQuery(url: string, key: string, value: string, duplicate: boolean): string {
  const [path, search = ''] = url.split('?', 2) as [string, string?];
  const params = new URLSearchParams(search);
  if (duplicate) params.append(key, value);
  else params.set(key, value);
  return `${path}?${params.toString()}`;
}

function apply(seed: InjectOptions, m: Mutation, keys: string[]): InjectOptions {
  const request: InjectOptions = { ...seed, headers: { ...seed.headers } };
  const body = seed.payload;
  const object =
    body && typeof body === 'object' && !Array.isArray(body)
      ? { ...(body as Record<string, unknown>) }
      : {};
  const pick = (key: string | null) => key ?? keys[0] ?? 'x';
  switch (m.kind) {
    case 'valid':
      return request;
    case 'set':
      // defineProperty keeps `__proto__` an own key, as JSON.parse would make it.
      Object.defineProperty(object, pick(m.key), {
        value: m.value,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      return { ...request, payload: object };
    case 'delete':
      delete object[pick(m.key)];
      return { ...request, payload: object };
    case 'replaceBody':
      return {
        ...request,
        payload: JSON.stringify(m.value) ?? 'null',
        headers: jsonHeaders(request),
      };
    case 'raw': {
      const headers: Record<string, string> = { ...(request.headers as Record<string, string>) };
      if (m.contentType) headers['content-type'] = m.contentType;
      return { ...request, payload: m.payload, headers };
    }
    case 'contentType':
      return {
        ...request,
        payload: JSON.stringify(body ?? {}),
        headers: { ...request.headers, 'content-type': m.contentType },
      };
    case 'query':
      return {
        ...request,
        url: setQuery(
          urlOf(request),
          m.key ?? keysOfQuery(request)[0] ?? 'limit',
          m.value,
          m.duplicate,
        ),
      };
    case 'path': {
      const url = urlOf(request);
      const [path, search] = url.split('?', 2) as [string, string?];
      const segments = path.split('/');
      const uuidAt = segments.findIndex((s) => /^[0-9a-f-]{36}$/i.test(s));
      const at = uuidAt === -1 ? segments.length - 1 : uuidAt;
      segments[at] = encodeSegment(m.segment);
      return { ...request, url: segments.join('/') + (search ? `?${search}` : '') };
    }
    case 'method':
      return {
        ...request,
        method: m.method,
        ...(m.withBody ? { payload: body ?? { a: 1 } } : { payload: undefined }),
      };
    case 'header':
      return { ...request, headers: { ...request.headers, [m.name]: m.value } };
  }
}

/** Percent-encodes a segment; a lone surrogate becomes invalid UTF-8 (`%ED%A0%80`) on the wire. */
function encodeSegment(segment: string): string {
  try {
    return encodeURIComponent(segment);
  } catch {
    return '%ED%A0%80';
  }
}

function urlOf(request: InjectOptions): string {
  return typeof request.url === 'string' ? request.url : '';
}

function jsonHeaders(request: InjectOptions) {
  return { ...request.headers, 'content-type': 'application/json' };
}

function keysOfQuery(request: InjectOptions): string[] {
  const search = urlOf(request).split('?', 2)[1];
  return search ? [...new URLSearchParams(search).keys()] : [];
}

function prototypeKeys(): string {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype]
    .map((proto) => Reflect.ownKeys(proto).map(String).sort().join(','))
    .join('|');
}

interface DocumentedResponse {
  headers?: Record<string, { $ref: string }>;
  content?: Record<string, unknown>;
}

/**
 * A body as its media type's schema reads it: JSON parsed; anything else (NDJSON, CSV) as
 * the string itself, whose `contentSchema` (if the schema has one) then reads its content.
 */
function bodyAs(mediaType: string, body: string): unknown {
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) return JSON.parse(body);
  if (mediaType === 'application/x-ndjson' || mediaType.startsWith('text/')) return body;
  // An attachment's bytes (image/*, application/pdf) or the export's ZIP: `format: binary`.
  if (mediaType.startsWith('image/') || ['application/pdf', 'application/zip'].includes(mediaType))
    return body;
  throw new Error(`no way to read ${mediaType} against a schema`);
}

/** NDJSON as the array of its lines (how the document's `contentSchema` reads it). */
function ndjsonLines(body: string): unknown[] {
  if (body !== '' && !body.endsWith('\n')) throw new Error('NDJSON must end with a line feed');
  return body
    .split('\n')
    .slice(0, -1)
    .map((line): unknown => JSON.parse(line));
}

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');
const pointer = (...parts: string[]) =>
  parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

t.test('fuzzing every /v1 route as every role', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const document = app.swagger() as unknown as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    components: {
      headers: Record<string, { required?: boolean; schema: { type?: string } } | undefined>;
    };
  };
  const templates = Object.keys(document.paths).map((path) => ({
    path,
    pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const matchPath = (url: string, method: string) => {
    const candidates = templates.filter(({ path }) => document.paths[path]?.[method]);
    return (
      candidates.find(({ path }) => path === url)?.path ??
      candidates.find(({ pattern }) => pattern.test(url))?.path ??
      ''
    );
  };
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  // ajv-formats is CommonJS: under NodeNext its default import is the module object.
  ajvFormats.default(ajv);
  ajv.addSchema(document, 'openapi.json');

  const ownClinicId = await createClinic(app);
  const otherClinicId = await createClinic(app);
  const sessions = new Map<Role, { authorization: string }>();
  const sessionFor = async (role: Role) => {
    let headers = sessions.get(role);
    if (!headers) {
      headers = (await loginAs(app, { role, clinicIds: [ownClinicId] })).headers;
      sessions.set(role, headers);
    }
    return headers;
  };
  const ctx = async (role: Role): Promise<MatrixContext> => ({
    app,
    ownClinicId,
    otherClinicId,
    role,
    headers: (await loginAs(app, { role, clinicIds: [ownClinicId] })).headers,
    now: clock.now,
  });

  const prototypesBefore = prototypeKeys();
  const statuses = new Map<string, number>();
  const undocumented = new Set<string>();
  let requests = 0;
  let serverErrors = 0;

  const validatedMediaTypes = new Map<string, number>();
  /**
   * The answer is what the document says this operation answers: a documented status, every
   * documented header, a documented media type, and a body its schema accepts.
   */
  const conforms = (request: InjectOptions, res: Response, where: string) => {
    const method = String(request.method ?? 'GET').toLowerCase();
    if (method === 'head') return;
    const mediaType = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const operationPath = matchPath(urlOf(request).split('?')[0]!, method);
    const operation = document.paths[operationPath]?.[method];
    if (!operation) {
      // No such operation (odd method, unknown path): a problem document.
      if (mediaType !== 'application/problem+json')
        throw new Error(`not a problem: ${where}: ${mediaType}`);
      const validate = ajv.getSchema(`openapi.json#/components/schemas/Problem`);
      if (!validate?.(res.json())) throw new Error(`not a problem: ${where}: ${res.body}`);
      return;
    }
    const status = String(res.statusCode);
    const response = operation.responses[status] as DocumentedResponse | undefined;
    if (!response) {
      // Even what is answered before the route runs (content type, headers) must be in
      // the document: openapi.yaml describes exactly what the server does.
      undocumented.add(`${method.toUpperCase()} ${operationPath} ${status}`);
      throw new Error(`undocumented status: ${where}: ${res.body.slice(0, 300)}`);
    }
    const at = `openapi.json#/${pointer('paths', operationPath, method, 'responses', status)}`;
    for (const [name, { $ref }] of Object.entries(response.headers ?? {})) {
      const definition = document.components.headers[$ref.split('/').pop()!];
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) {
        if (definition?.required) throw new Error(`no ${name} header: ${where}`);
        continue;
      }
      const validate = ajv.getSchema(`openapi.json#${$ref.slice(1)}/schema`);
      const typed = definition?.schema.type === 'integer' ? Number(value) : value;
      if (!validate?.(typed))
        throw new Error(`${name}: ${String(value)} does not match its schema: ${where}`);
    }
    if (!response.content) {
      if (res.body !== '') throw new Error(`a body where none is documented: ${where}`);
      return;
    }
    if (!(mediaType in response.content)) {
      throw new Error(
        `undocumented media type ${mediaType} (${Object.keys(response.content).join(', ')}): ${where}`,
      );
    }
    const validate = ajv.getSchema(`${at}/content/${pointer(mediaType)}/schema`);
    if (!validate) throw new Error(`no schema for ${where}`);
    const body = bodyAs(mediaType, res.body);
    if (!validate(body))
      throw new Error(
        `body does not match its ${mediaType} schema: ${where}: ${JSON.stringify(validate.errors).slice(0, 500)}: ${res.body.slice(0, 300)}`,
      );
    const media = response.content[mediaType] as { schema?: { contentSchema?: unknown } };
    if (media.schema?.contentSchema !== undefined) {
      if (mediaType !== 'application/x-ndjson') throw new Error(`no reader for ${mediaType}`);
      const lines = ajv.getSchema(`${at}/content/${pointer(mediaType)}/schema/contentSchema`);
      if (!lines?.(ndjsonLines(res.body)))
        throw new Error(
          `lines do not match their schema: ${where}: ${JSON.stringify(lines?.errors).slice(0, 500)}`,
        );
    }
    validatedMediaTypes.set(mediaType, (validatedMediaTypes.get(mediaType) ?? 0) + 1);
  };

  for (const [routeIndex, route] of app.apiRoutes.entries()) {
    const key = `${route.method} ${route.url}`;
    const build = ROUTE_CASES[key]?.build.own;
    if (!build) {
      t.fail(`${key}: no matrix builder to seed the fuzzer`);
      continue;
    }
    const operations = document.paths[toOpenApiPath(route.url)];
    t.ok(operations?.[route.method.toLowerCase()], `${key}: documented`);
    const seedRole: Role =
      route.url.includes('/journal') || route.url.includes('recalls') ? 'practitioner' : 'admin';
    const seed = await build(await ctx(seedRole));
    const bodyKeys =
      seed.payload && typeof seed.payload === 'object' ? Object.keys(seed.payload) : [];

    await fc
      .assert(
        fc.asyncProperty(fc.constantFrom(...WHO), mutation, async (who, m) => {
          const headers: Record<string, string> = {};
          if (who !== 'anonymous') Object.assign(headers, await sessionFor(who));
          const base: InjectOptions = {
            ...seed,
            headers: { ...(seed.headers as Record<string, string>), ...headers },
            remoteAddress: `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.1`,
          };
          if (who === 'anonymous') delete (base.headers as Record<string, string>).authorization;
          const request = apply(base, m, bodyKeys);
          const res = await app.inject(request);
          requests += 1;
          const tally = `${res.statusCode}`;
          statuses.set(tally, (statuses.get(tally) ?? 0) + 1);
          if (route.url === '/v1/auth/logout' && who !== 'anonymous') sessions.delete(who);
          if (res.statusCode === 401 && who !== 'anonymous') sessions.delete(who);

          const where = `${key} as ${who}, ${JSON.stringify(m).slice(0, 200)} -> ${res.statusCode}`;
          if (res.statusCode >= 500) serverErrors += 1;
          if (res.statusCode >= 500) throw new Error(`5xx: ${where}: ${res.body.slice(0, 500)}`);
          if (res.statusCode >= 400 && LEAK.test(res.body))
            throw new Error(`leak: ${where}: ${res.body.slice(0, 500)}`);
          if (prototypeKeys() !== prototypesBefore) throw new Error(`prototype changed: ${where}`);

          conforms(request, res, where);
        }),
        { numRuns: RUNS, seed: SEED + routeIndex, endOnFailure: true },
      )
      .then(
        () => t.pass(`${key}: ${RUNS} runs`),
        (error: unknown) =>
          t.fail(
            error instanceof Error
              ? `${error.message}\n${error.cause instanceof Error ? error.cause.message : ''}`
              : String(error),
          ),
      );
  }

  // Every media type the document declares is checked at least once, whatever the runs drew:
  // the audit export's two and the data-subject export's ZIP are asked for outright.
  const zipSeed = await ROUTE_CASES['GET /v1/clients/:id/export']!.build.own!(await ctx('admin'));
  const zipRequest: InjectOptions = { ...zipSeed, url: `${zipSeed.url as string}?format=zip` };
  const zip = await app.inject(zipRequest);
  t.equal(zip.statusCode, 200, 'data-subject export as zip');
  try {
    conforms(zipRequest, zip, 'data-subject export as zip');
  } catch (error) {
    t.fail(error instanceof Error ? error.message : String(error));
  }
  const auditor = await sessionFor('auditor');
  for (const format of ['ndjson', 'csv']) {
    const request: InjectOptions = {
      method: 'GET',
      url: `/v1/audit-events/export?format=${format}`,
      headers: auditor,
    };
    const res = await app.inject(request);
    t.equal(res.statusCode, 200, `export as ${format}`);
    try {
      conforms(request, res, `export as ${format}`);
    } catch (error) {
      t.fail(error instanceof Error ? error.message : String(error));
    }
  }
  const declared = new Set<string>();
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations)) {
      for (const response of Object.values(operation.responses) as DocumentedResponse[]) {
        for (const mediaType of Object.keys(response.content ?? {})) {
          // An attachment's image bytes: the fuzzer's seed attachment is a PDF (the same
          // `format: binary` schema); test/attachments/ downloads JPEG and PNG and checks them.
          if (!mediaType.startsWith('image/')) declared.add(mediaType);
        }
      }
    }
  }
  t.same(
    [...validatedMediaTypes.keys()].sort(),
    [...declared].sort(),
    'every declared media type was validated',
  );
  t.comment(`validated bodies: ${JSON.stringify(Object.fromEntries(validatedMediaTypes))}`);

  t.equal(prototypeKeys(), prototypesBefore, 'global prototypes untouched');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no polluted property');
  t.equal(serverErrors, 0, 'no 5xx');
  t.comment(`fuzz: ${requests} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  if (undocumented.size > 0)
    t.comment(`problem answers the document does not list: ${[...undocumented].sort().join('; ')}`);
  recordSummary('fuzz', { requests, '5xx': serverErrors, runsPerRoute: RUNS });
});

t.test(
  'a URL that does not decode answers 400 problem details with the usual headers',
  async (t) => {
    const { app } = await buildTestApp(t);
    const res = await app.inject({ method: 'GET', url: '/v1/clients/%ED%A0%80/journal' });
    t.equal(res.statusCode, 400);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
    t.equal(res.headers['cache-control'], 'no-store');
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    t.ok(res.headers['x-request-id'], 'carries a request id');
    t.notMatch(res.body, /%ED|FST_ERR/, 'does not echo the URL or an internal code');
    t.match(res.json(), { status: 400, title: 'Bad Request' });
  },
);
