import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { buildTestApp } from './helpers/app.js';

t.test('the server runs with the timeouts src/app.ts sets', async (t) => {
  const { app } = await buildTestApp(t);
  t.equal(app.server.timeout, 120_000, 'connectionTimeout: idle sockets are destroyed');
  t.equal(app.server.requestTimeout, 60_000, 'requestTimeout');
  t.equal(app.server.keepAliveTimeout, 10_000, 'keepAliveTimeout');
  t.equal(app.server.headersTimeout, 15_000, 'headersTimeout');
});

t.test('a client that connects and sends nothing is disconnected', async (t) => {
  const connectionTimeoutMs = 400;
  const { app } = await buildTestApp(t, { build: { connectionTimeoutMs } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as net.AddressInfo;

  // A request on its own connection still works: the timeout is about silence, not age.
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(health.status, 200);

  const socket = net.connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const connectedAt = performance.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const closed = once(socket, 'close');
  let gaveUp = false;
  const guard = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, 10_000);
  t.teardown(() => clearTimeout(guard));
  await closed;
  const elapsed = performance.now() - connectedAt;
  t.notOk(gaveUp, 'closed by the server, not by our 10 s guard');
  t.ok(elapsed >= connectionTimeoutMs - 50, `not before the timeout (${Math.round(elapsed)} ms)`);
  t.ok(elapsed < 5_000, 'long before headersTimeout (15 s) could have done it');
  t.equal(received, '', 'dropped without an answer');
});
