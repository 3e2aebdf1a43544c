import net from 'node:net';
import t from 'tap';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { sql } from 'drizzle-orm';
import { BODY_LIMIT_BYTES } from '../src/app.js';
import { createLogger } from '../src/logger.js';
import { buildTestApp } from './helpers/app.js';

/** Routes that exist only in this test, to drive each kind of error through the real app. */
const probeRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/probe/echo',
    {
      schema: {
        body: z.strictObject({
          name: z.string().min(2),
          age: z.int().min(0),
          nested: z.strictObject({ x: z.boolean() }).optional(),
        }),
        response: { 200: z.object({ ok: z.boolean() }) },
      },
    },
    async () => ({ ok: true }),
  );
  app.get('/probe/crash', async () => {
    const error = new Error(
      'syntax error at or near "SELECT secret FROM clients WHERE national_id = \'0101901234\'"',
    );
    throw error;
  });
  app.get('/probe/db', async () => app.pool.query('SELECT 1'));
  app.get('/probe/ip', async (request) => ({ ip: request.ip }));
};

t.test('problem details for every error kind', async (t) => {
  const { app } = await buildTestApp(t, { ready: false });
  await app.register(probeRoutes);
  await app.ready();

  const isProblem = (
    res: { headers: Record<string, unknown>; json: () => unknown },
    status: number,
  ) => {
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${status} content type`);
    t.match(res.json(), { type: String, title: String, status, detail: String });
  };

  const invalid = await app.inject({
    method: 'POST',
    url: '/probe/echo',
    payload: { name: 'x', age: -1 },
  });
  t.equal(invalid.statusCode, 400);
  isProblem(invalid, 400);
  t.same(
    invalid
      .json<{ errors: { path: string }[] }>()
      .errors.map((error) => error.path)
      .sort(),
    ['body.age', 'body.name'],
  );

  const unknownProperty = await app.inject({
    method: 'POST',
    url: '/probe/echo',
    payload: { name: 'xy', age: 1, role: 'admin' },
  });
  t.equal(unknownProperty.statusCode, 400, 'unknown properties are rejected');

  const proto = await app.inject({
    method: 'POST',
    url: '/probe/echo',
    headers: { 'content-type': 'application/json' },
    payload: '{"name":"xy","age":1,"__proto__":{"polluted":true}}',
  });
  t.equal(proto.statusCode, 400, '__proto__ is rejected');
  isProblem(proto, 400);
  t.equal(({} as Record<string, unknown>).polluted, undefined);

  const malformed = await app.inject({
    method: 'POST',
    url: '/probe/echo',
    headers: { 'content-type': 'application/json' },
    payload: '{"name": ',
  });
  t.equal(malformed.statusCode, 400);
  isProblem(malformed, 400);

  const tooLarge = await app.inject({
    method: 'POST',
    url: '/probe/echo',
    payload: { name: 'x'.repeat(BODY_LIMIT_BYTES), age: 1 },
  });
  t.equal(tooLarge.statusCode, 413);
  isProblem(tooLarge, 413);

  const wrongType = await app.inject({
    method: 'POST',
    url: '/probe/echo',
    headers: { 'content-type': 'text/plain' },
    payload: 'name=xy',
  });
  t.equal(wrongType.statusCode, 415);
  isProblem(wrongType, 415);

  const unknownRoute = await app.inject({ method: 'GET', url: '/v1/nothing-here' });
  t.equal(unknownRoute.statusCode, 404);
  isProblem(unknownRoute, 404);

  const crash = await app.inject({ method: 'GET', url: '/probe/crash' });
  t.equal(crash.statusCode, 500);
  isProblem(crash, 500);
  t.notMatch(
    crash.body,
    /SELECT|national_id|0101901234|at .*\.ts|stack/i,
    'no SQL, value or stack',
  );
});

t.test('a database that does not answer is 503 with Retry-After', async (t) => {
  const { app, db } = await buildTestApp(t, { ready: false });
  await app.register(probeRoutes);
  await app.ready();
  t.equal((await app.inject({ method: 'GET', url: '/probe/db' })).statusCode, 200);
  await db.pool.end();
  const res = await app.inject({ method: 'GET', url: '/probe/db' });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '5');
  t.match(res.headers['content-type'], /^application\/problem\+json/);
});

t.test('request ids and security headers on every response', async (t) => {
  const { app } = await buildTestApp(t);
  for (const url of ['/healthz', '/v1/missing']) {
    const res = await app.inject({ method: 'GET', url });
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${url}: generated id`);
    t.equal(res.headers['cache-control'], 'no-store');
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    t.ok(res.headers['content-security-policy']);
    t.ok(res.headers['strict-transport-security']);
  }
  const honoured = await app.inject({
    method: 'GET',
    url: '/healthz',
    headers: { 'x-request-id': 'front-desk:42.a_b' },
  });
  t.equal(honoured.headers['x-request-id'], 'front-desk:42.a_b');
  for (const insane of ['a b', 'x'.repeat(200), '<script>', 'ø']) {
    const res = await app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': insane },
    });
    t.not(res.headers['x-request-id'], insane, `replaced: ${insane.slice(0, 10)}`);
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  }
  const a = await app.inject({ method: 'GET', url: '/healthz' });
  const b = await app.inject({ method: 'GET', url: '/healthz' });
  t.not(a.headers['x-request-id'], b.headers['x-request-id'], 'ids are unique');
});

t.test('X-Forwarded-For is believed only from the proxies named in TRUST_PROXY', async (t) => {
  const forwarded = { 'x-forwarded-for': '203.0.113.9' };
  const direct = await buildTestApp(t, { ready: false });
  await direct.app.register(probeRoutes);
  const ignored = await direct.app.inject({ method: 'GET', url: '/probe/ip', headers: forwarded });
  t.same(ignored.json(), { ip: '127.0.0.1' }, 'without TRUST_PROXY the socket address counts');

  const proxied = await buildTestApp(t, { ready: false, env: { TRUST_PROXY: '127.0.0.1' } });
  await proxied.app.register(probeRoutes);
  const believed = await proxied.app.inject({
    method: 'GET',
    url: '/probe/ip',
    headers: forwarded,
  });
  t.same(believed.json(), { ip: '203.0.113.9' });
  const spoofed = await proxied.app.inject({
    method: 'GET',
    url: '/probe/ip',
    headers: forwarded,
    remoteAddress: '198.51.100.7',
  });
  t.same(spoofed.json(), { ip: '198.51.100.7' }, 'a client that is not a named proxy cannot spoof');
});

t.test('an unexpected database error is logged without its SQL or values', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('error', { write: (line: string) => lines.push(line) });
  const { app } = await buildTestApp(t, { ready: false, build: { logger } });
  app.get('/probe/bad-sql', async () =>
    app.db.execute(
      sql`SELECT ${'canary-7f3a'}::int AS n FROM clinics WHERE name = ${'Canary Clinic'}`,
    ),
  );
  await app.ready();
  const res = await app.inject({ method: 'GET', url: '/probe/bad-sql' });
  t.equal(res.statusCode, 500);
  t.notMatch(res.body, /canary|SELECT|clinics/i);
  const log = lines.join('');
  t.match(log, /"code":"22P02"/, 'the SQLSTATE is logged');
  t.notMatch(log, /canary-7f3a|Canary Clinic|SELECT/, 'no SQL and no value in the log');
});

t.test('one access-log line per request: id, method, censored path, status, time', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => lines.push(line) });
  const { app } = await buildTestApp(t, { build: { logger } });
  lines.length = 0;
  const res = await app.inject({
    method: 'GET',
    url: '/v1/recalls?batchNumber=CANARY-B4TCH&limit=5',
    headers: { 'x-request-id': 'req-log-probe-1' },
  });
  t.equal(res.statusCode, 401);
  const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const mine = logged.filter((line) => line.reqId === 'req-log-probe-1');
  // The error handler's own "request rejected" line (4xx) stays; Fastify's two become one.
  const access = mine.filter((line) =>
    /^(incoming request|request completed)$/.test(String(line.msg)),
  );
  t.same(
    access.map((line) => line.msg),
    ['request completed'],
    "one line, not Fastify's two",
  );
  t.match(access[0], {
    level: 30,
    req: { method: 'GET', url: '/v1/recalls?batchNumber=[redacted]&limit=[redacted]' },
    res: { statusCode: 401 },
    responseTime: Number,
  });
  t.notMatch(lines.join(''), /CANARY-B4TCH/, 'no query value in the log');
});

/** Writes `raw` to the listening app and reads until it closes: status line, headers, body. */
async function rawExchange(port: number, raw: string) {
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(raw));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('close', () => resolve(data));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      // The server closes once it has answered; a reset after the answer is not a failure.
      error.code === 'ECONNRESET' && data ? resolve(data) : reject(error),
    );
  });
  const [head = '', body = ''] = answer.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

t.test('what Node refuses before routing is problem details with the usual headers', async (t) => {
  const { app } = await buildTestApp(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as net.AddressInfo;
  const cases = {
    'a 100 KB header': [
      431,
      `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
    ],
    'a 100 KB path': [431, `GET /v1/clients/${'a'.repeat(100_000)} HTTP/1.1\r\nHost: a\r\n\r\n`],
    'a malformed request line': [400, 'GARBAGE\r\n\r\n'],
    'a malformed header': [400, 'GET /healthz HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n'],
    'Content-Length beside chunked': [
      400,
      'POST /v1/auth/login HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    'no Host on HTTP/1.1': [400, 'GET /healthz HTTP/1.1\r\n\r\n'],
    'an Expect other than 100-continue': [
      417,
      'POST /v1/auth/login HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    ],
  } as const;
  for (const [name, [status, raw]] of Object.entries(cases)) {
    const res = await rawExchange(port, raw);
    t.equal(res.status, status, `${name}: ${status}`);
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${name}: problem details`);
    t.match(JSON.parse(res.body), { type: 'about:blank', status, title: String, detail: String });
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${name}: a request id`);
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`);
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`);
    t.notMatch(res.body, /aaaa|GARBAGE|teapot/, `${name}: nothing of the request echoed`);
  }
  const http10 = await rawExchange(port, 'GET /healthz HTTP/1.0\r\n\r\n');
  t.equal(http10.status, 200, 'HTTP/1.0 needs no Host');
});
