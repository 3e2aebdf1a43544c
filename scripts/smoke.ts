/**
 * `npm run smoke`: start the service as a newcomer would (`npm start` on a bare machine: no
 * DATABASE_URL, so an embedded PostgreSQL, and development secrets generated into ./.data),
 * in a fresh temporary directory on a free port; poll GET /readyz until it answers 200; send
 * SIGTERM and require a clean exit 0. .ci/run runs it under the supported Node.js LTS.
 *
 * SMOKE_NODE_MAJOR=24 makes it fail unless it runs on that Node.js major (so CI cannot
 * silently test the wrong binary). The exported startAndStop() serves other entry points too
 * (test/cli-dist.test.ts starts the compiled dist/server.js with it).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../src/db/embedded.js';
import { embeddedClusterDir } from '../src/db/embedded-place.js';

export interface SmokeOptions {
  /** Node arguments: the entry point and what it needs. */
  args: string[];
  cwd: string;
  /** The whole environment of the service (PATH, PORT and HOST are added). */
  env: Record<string, string>;
  readyWithinMs?: number;
  exitWithinMs?: number;
}

export interface SmokeResult {
  readyAfterMs: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Starts `node <args>`, waits for /readyz to answer 200, SIGTERMs it and waits for its exit. */
export async function startAndStop(options: SmokeOptions): Promise<SmokeResult> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let gone = false;
  void exited.then(() => (gone = true));

  const fail = async (message: string): Promise<never> => {
    if (!gone) child.kill('SIGKILL');
    await exited;
    throw new Error(`${message}\n--- service output ---\n${output}`);
  };

  const deadline = started + (options.readyWithinMs ?? 60_000);
  let readyAfterMs: number | undefined;
  while (readyAfterMs === undefined) {
    if (gone) return fail('the service exited before /readyz answered 200');
    if (performance.now() > deadline) return fail('/readyz did not answer 200 in time');
    const status = await fetch(`http://127.0.0.1:${port}/readyz`, {
      signal: AbortSignal.timeout(2_000),
    }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) readyAfterMs = Math.round(performance.now() - started);
    // Not listening yet (or migrating): ask again shortly, or stop at once if it exits.
    else await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 200))]);
  }

  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.exitWithinMs ?? 20_000);
  const [exitCode, signal] = await exited;
  clearTimeout(timer);
  return { readyAfterMs, exitCode, signal, output };
}

async function main(): Promise<number> {
  const expected = process.env.SMOKE_NODE_MAJOR;
  const major = process.versions.node.split('.')[0];
  if (expected && expected !== major) {
    process.stderr.write(`smoke: expected Node.js ${expected}, running ${process.version}\n`);
    return 1;
  }
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'journal-smoke-'));
  // As root the embedded PostgreSQL runs as the OS user `postgres`, which must enter it; with
  // --closed it cannot (a checkout under /root or a `mktemp -d`): the cluster must then live in
  // the system directory (src/db/embedded-place.ts) and the service must still start.
  const closed = process.argv.includes('--closed');
  chmodSync(cwd, closed ? 0o700 : 0o755);
  const cluster = embeddedClusterDir(path.join(cwd, '.data'));
  try {
    const server = path.resolve(import.meta.dirname, '..', 'src', 'server.ts');
    const result = await startAndStop({
      args: ['--import', import.meta.resolve('tsx'), server],
      cwd,
      env: { NODE_ENV: 'development', LOG_LEVEL: 'info' },
    });
    const problems = [
      result.exitCode === 0 ? undefined : `exit ${result.exitCode ?? result.signal} after SIGTERM`,
      existsSync(path.join(cluster, 'PG_VERSION'))
        ? undefined
        : `no embedded cluster in ${cluster}`,
      result.output.includes(`embedded PostgreSQL in ${cluster}`)
        ? undefined
        : 'the start line does not say where the cluster lives',
      existsSync(path.join(cwd, '.data', 'master.key')) ? undefined : 'no development key',
      existsSync(path.join(cluster, 'postmaster.pid'))
        ? 'the embedded PostgreSQL is still running'
        : undefined,
    ].filter(Boolean);
    if (problems.length > 0) {
      process.stderr.write(`smoke: ${problems.join('; ')}\n--- output ---\n${result.output}\n`);
      return 1;
    }
    process.stdout.write(
      `smoke: Node.js ${process.version}: /readyz 200 after ${result.readyAfterMs} ms ` +
        `(embedded PostgreSQL in ${cluster}, generated development secrets); SIGTERM: exit 0\n`,
    );
    return 0;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
    // A cluster moved to the system directory belongs to this temporary checkout only.
    if (!cluster.startsWith(cwd)) rmSync(path.dirname(cluster), { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`smoke: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
