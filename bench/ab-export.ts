/**
 * The exporting side of `npm run bench:ab` (bench/ab.ts). With `AB_EXPORT=<file>` set,
 * `bench/run.ts` seeds as usual, then calls this instead of running its scenarios: it writes
 * the database URL, both servers' ports and pids and 3 000 ready requests of the scenario
 * named by AB_SPEC (method, path, headers with tokens, body) to `<file>`, and waits until `<file>.done` exists. Meanwhile
 * `<file>.prof-start` / `<file>.prof-stop` start and stop a CPU profile of the service
 * (written to `<file>.cpuprofile`), each acknowledged by `<file>.prof-started` / `-stopped`.
 *
 * The block is self-contained so that an older checkout can be given it (copy this file and
 * the call in run.ts) and compared against a newer one on the same machine minute.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

interface ExportedServer {
  child: { pid?: number | undefined };
  port: number;
  ask<T>(message: object, reply: string): Promise<T>;
}

interface Spec {
  method: 'GET' | 'POST';
  path: () => string;
  headers?: () => Record<string, string>;
  body?: () => string;
}

export interface AbExport {
  url: string;
  service: { port: number; pid: number };
  bare: { port: number; pid: number };
  reqs: { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string }[];
}

export async function abExport(
  file: string,
  url: string,
  service: ExportedServer,
  bare: ExportedServer,
  spec: Spec,
): Promise<void> {
  const reqs = Array.from({ length: 3000 }, () => {
    const path = spec.path();
    const headers = spec.headers?.() ?? {};
    const body = spec.body?.();
    return body === undefined
      ? { method: spec.method, path, headers }
      : {
          method: spec.method,
          path,
          headers: { ...headers, 'content-type': 'application/json' },
          body,
        };
  });
  const exported: AbExport = {
    url,
    service: { port: service.port, pid: service.child.pid! },
    bare: { port: bare.port, pid: bare.child.pid! },
    reqs,
  };
  writeFileSync(file, JSON.stringify(exported));
  let profiling = false;
  while (!existsSync(`${file}.done`)) {
    if (!profiling && existsSync(`${file}.prof-start`)) {
      await service.ask({ type: 'profile-start' }, 'profiling');
      profiling = true;
      writeFileSync(`${file}.prof-started`, '');
    }
    if (profiling && existsSync(`${file}.prof-stop`)) {
      await service.ask({ type: 'profile-stop', file: `${file}.cpuprofile` }, 'profiled');
      profiling = false;
      writeFileSync(`${file}.prof-stopped`, '');
    }
    await sleep(100);
  }
}
