/**
 * The service as users start it: `npm start` (tsx over the TypeScript sources, the default
 * LOG_LEVEL info, one log line per request, written to a file as a shell redirect would), beside
 * the compiled service that `npm run bench` measures as the Dockerfile runs it (plain node,
 * LOG_LEVEL warn). Issue #20: measure the service as users start it, and show both if they
 * differ. Its CPU time is that of its whole process tree (npm, sh, tsx and the node that
 * serves), read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface StartedService {
  child: ChildProcess;
  port: number;
  /** The pids of the process tree under `npm start`, the npm process first. */
  pids(): number[];
  /** Bytes the service has logged so far. */
  loggedBytes(): number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The pid and every descendant (Linux /proc; just the pid elsewhere). */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    try {
      const children = readFileSync(`/proc/${all[i]}/task/${all[i]}/children`, 'utf8');
      for (const child of children.trim().split(/\s+/)) if (child) all.push(Number(child));
    } catch {
      // gone, or not Linux
    }
  }
  return all;
}

/**
 * Starts `npm start` with the bench's database and secrets, NODE_ENV=production and
 * LOG_LEVEL unset (info), on a free port; resolves once /readyz answers 200.
 */
export async function startAsUsersDo(
  env: NodeJS.ProcessEnv,
  logFile: string,
): Promise<StartedService> {
  const port = await freePort();
  const fd = openSync(logFile, 'a');
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
  };
  delete childEnv.LOG_LEVEL;
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', fd, fd],
    // Its own process group: stop() signals npm, sh, tsx and node together.
    detached: true,
  });
  closeSync(fd);
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`npm start exited (${code}) before /readyz; see ${logFile}`)),
    ),
  );
  const ready = (async () => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`npm start: no /readyz within 60 s; see ${logFile}`);
  })();
  await Promise.race([ready, exited]);
  exited.catch(() => undefined);
  return {
    child,
    port,
    pids: () => processTree(child.pid!),
    loggedBytes: () => statSync(logFile).size,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        process.kill(-child.pid!, 'SIGTERM');
      }),
  };
}
