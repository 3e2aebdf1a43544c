/**
 * Real service processes and a cuttable TCP path to PostgreSQL, for the resilience tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Test } from 'tap';
import { freePort } from '../../src/db/embedded.js';
import { tsxArgs } from '../helpers/process.js';

/** Keys shared by the service processes and the in-process app that verifies their chain. */
export function sharedKeys() {
  return {
    MASTER_KEY: randomBytes(32).toString('base64'),
    JWT_SECRET: randomBytes(48).toString('base64url'),
  };
}

export interface Service {
  base: string;
  child: ChildProcess;
  output: () => string;
  /** SIGKILL: no shutdown, in-flight transactions die with the process. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

const READY_DEADLINE_MS = 30_000;

/** Polls `url` until it answers 200, or throws after `deadlineMs`. */
export async function waitForOk(url: string, deadlineMs = READY_DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 in ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Spawns src/server.ts on a free port (or `port`, to come back where it was) and waits for
 * /readyz; killed when the test ends if still running.
 */
export async function startService(
  t: Test,
  env: Record<string, string>,
  port?: number,
): Promise<Service> {
  const listenPort = port ?? (await freePort());
  const child = spawn(process.execPath, tsxArgs('src/server.ts'), {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(listenPort),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const base = `http://127.0.0.1:${listenPort}`;
  const failed = exited.then(() => {
    throw new Error(`service exited while starting:\n${output}`);
  });
  await Promise.race([waitForOk(`${base}/readyz`), failed]);
  failed.catch(() => undefined);
  return {
    base,
    child,
    output: () => output,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Proxy {
  port: number;
  /** Destroys every open connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** A TCP proxy to PostgreSQL: the service's path to its database, which a test can cut. */
export async function startProxy(t: Test, target: { host: string; port: number }): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const proxy: Proxy = {
    port,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    async close() {
      proxy.cut();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
  t.teardown(() => proxy.close());
  return proxy;
}

/** `url` with its host and port replaced (a database URL through the proxy). */
export function viaPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}

export interface Outcome {
  status: number | 'timeout' | 'network';
  detail?: string;
  id?: string;
}

/** One HTTP request with a hard bound: a hang becomes 'timeout', never a stuck test. */
export async function send(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: unknown },
  timeoutMs: number,
): Promise<Outcome & { headers?: Headers; body?: unknown }> {
  try {
    const res = await fetch(url, {
      method: init.method,
      // One connection per request: after a SIGKILL no pooled socket of the dead process is
      // reused (that error would be the client's, not the service's).
      headers: { 'content-type': 'application/json', connection: 'close', ...init.headers },
      ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const id =
      body && typeof body === 'object' && 'id' in body && typeof body.id === 'string'
        ? body.id
        : undefined;
    return { status: res.status, headers: res.headers, body, ...(id && { id }) };
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
    return { status: name === 'TimeoutError' ? 'timeout' : 'network', detail: cause };
  }
}

/** Logs a user in over HTTP; returns the Authorization header. */
export async function httpLogin(
  base: string,
  username: string,
  password: string,
): Promise<{ authorization: string }> {
  const res = await send(
    `${base}/v1/auth/login`,
    { method: 'POST', headers: {}, body: { username, password } },
    15_000,
  );
  if (res.status !== 200) throw new Error(`login answered ${String(res.status)}`);
  return { authorization: `Bearer ${(res.body as { accessToken: string }).accessToken}` };
}
