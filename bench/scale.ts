/**
 * `npm run bench -- --scale`: how cost grows with work (issue #20). One database grows step by
 * step and every row is measured at each size on the service compiled and run as in
 * production (bench/run.ts starts it; this file gets run.ts's helpers passed in, so the two
 * share one harness and no import cycle):
 *
 *   journal read, first page, of a client with 10 / 100 / 1 000 entries   req/s, p50
 *   client search (email) at 10 k / 100 k / 1 M clients                   req/s, p50
 *   client list (first page of 50) at the same sizes                     req/s, p50
 *   audit export (ndjson) and verify (endpoint ?full=true, and the CLI) at 1 M / 10 M events
 *                                                                         rows/s, peak RSS
 *   attachment download of 1 / 20 MiB                                    MiB/s, RSS growth
 *
 * and each row's growth label (bench/growth.ts). Seeding grows the data set in place: clients
 * through the real encryption door (bench/seed.ts seedClients), events by INSERT ... SELECT
 * generate_series and then sealed into the chain (seedAuditEvents); how long each step took
 * is printed too.
 *
 *   npm run bench -- --scale                       # the sizes above
 *   npm run bench -- --scale-quick                 # 1 k / 10 k / 100 k clients, 100 k / 1 M events
 *   npm run bench -- --scale --scale-max 100000,1000000   # the sizes up to 100 k clients, 1 M events
 *   npm run bench -- --scale --duration 5 --connections 50
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { attachmentScenario } from './attachments.js';
import { classifyGrowth, perUnit, type Growth } from './growth.js';
import {
  createBareTables,
  seedAuditEvents,
  seedClients,
  seedContext,
  seedStaff,
  type SeedContext,
  type World,
} from './seed.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);
const MIB = 1024 * 1024;
/** The journal's default page (src/schemas/page.ts). */
const JOURNAL_PAGE = 50;

/** What run.ts lends: its server, load and export helpers. */
export interface ScaleServer {
  child: ChildProcess;
  port: number;
  ask<T>(message: object, reply: string): Promise<T>;
  stop(): Promise<void>;
}
export interface ScaleSpec {
  method: 'GET' | 'POST';
  path: () => string;
  headers?: () => Record<string, string>;
  body?: () => string;
}
export interface Harness {
  /** The compiled bench/server.js (run.ts compileServers). */
  script: string;
  startServer(
    kind: 'service' | 'bare',
    script: string,
    env: NodeJS.ProcessEnv,
  ): Promise<ScaleServer>;
  cannon(
    port: number,
    spec: ScaleSpec,
    connections: number,
    duration: number,
  ): Promise<{
    reqPerSec: number;
    p50: number;
    p99: number;
    requests: number;
    non2xx: number;
    errors: number;
    timeouts: number;
  }>;
  login(port: number, username: string): Promise<string>;
  exportScenario(
    service: ScaleServer,
    url: string,
    auditor: string,
  ): Promise<{
    status: number;
    rows: number;
    seconds: number;
    rowsPerSec: number;
    peakRssMb: number;
    idleRssMb: number;
    copyRowsPerSec: number;
  }>;
}

export const isScale = (argv: readonly string[]) =>
  argv.includes('--scale') || argv.includes('--scale-quick');

export function scaleFlags(argv: readonly string[]) {
  const quick = argv.includes('--scale-quick');
  const value = (name: string, fallback: number) => {
    const at = argv.indexOf(`--${name}`);
    if (at < 0) return fallback;
    const parsed = Number(argv[at + 1]);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} needs a number`);
    return parsed;
  };
  let maxClients = Infinity;
  let maxEvents = Infinity;
  const at = argv.indexOf('--scale-max');
  if (at >= 0) {
    const [c, e] = (argv[at + 1] ?? '').split(',').map(Number);
    if (!(c! > 0) || !(e! > 0)) throw new Error('--scale-max takes <clients>,<events>');
    [maxClients, maxEvents] = [c!, e!];
  }
  const clients = (quick ? [1_000, 10_000, 100_000] : [10_000, 100_000, 1_000_000]).filter(
    (n) => n <= maxClients,
  );
  const events = (quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000]).filter(
    (n) => n <= maxEvents,
  );
  if (clients.length < 2 || events.length < 2) {
    throw new Error('--scale-max leaves fewer than two sizes to compare');
  }
  return {
    quick,
    clients,
    events,
    entries: [10, 100, 1_000],
    attachmentsMib: [1, 20],
    /** Journal entries of each client of the growing set (the journal row has its own). */
    clientEntries: value('scale-entries', 0),
    duration: value('duration', quick ? 3 : 5),
    connections: value('connections', 50),
  };
}

interface Point {
  size: number;
  /** req/s, rows/s or MiB/s. */
  figure: number;
  p50?: number;
  peakRssMb?: number;
  note?: string;
}
interface Series {
  row: string;
  unit: 'req/s' | 'rows/s' | 'MiB/s';
  sizeUnit: string;
  points: Point[];
  /** The growth label compares only the sizes from this one on. */
  classifyFrom?: number;
  growth?: Growth;
  rssGrowth?: Growth;
}
interface SeedStep {
  step: string;
  count: number;
  seconds: number;
  /** CPU seconds of this process (sealing, blind indexes): steadier than wall time. */
  nodeCpuSeconds: number;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Runs `work` and records how long it took under `step`. */
async function timed<T>(steps: SeedStep[], step: string, count: number, work: () => Promise<T>) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  steps.push({ step, count, seconds, nodeCpuSeconds: (used.user + used.system) / 1e6 });
  log(
    `  ${step}: ${count.toLocaleString('en')} in ${seconds.toFixed(1)} s (${Math.round(count / seconds).toLocaleString('en')}/s)`,
  );
  return result;
}

/**
 * Seeding only: checkpoints far apart (a bulk load's WAL would otherwise force one every
 * GiB, each followed by full-page writes of every index page touched), reset and a
 * CHECKPOINT taken before anything is measured, so the service runs under the defaults.
 */
async function bulkLoad<T>(pool: pg.Pool, work: () => Promise<T>): Promise<T> {
  await pool.query("ALTER SYSTEM SET max_wal_size = '32GB'");
  await pool.query("ALTER SYSTEM SET checkpoint_timeout = '1h'");
  await pool.query('SELECT pg_reload_conf()');
  try {
    return await work();
  } finally {
    await pool.query('ALTER SYSTEM RESET max_wal_size');
    await pool.query('ALTER SYSTEM RESET checkpoint_timeout');
    await pool.query('SELECT pg_reload_conf()');
    await pool.query('CHECKPOINT');
  }
}

/** Clients `from`..`to` in two lanes: one seals while the other's batch is written. */
async function seedClientsInLanes(
  ctx: SeedContext,
  world: World,
  from: number,
  to: number,
  entries: number,
) {
  const middle = from + Math.floor((to - from) / 2);
  await Promise.all([
    seedClients(ctx, world, from, middle, entries),
    seedClients(ctx, world, middle, to, entries),
  ]);
}

/** The operator CLI's verify (compiled, plain node): seconds, links checked, peak RSS. */
function verifyCli(env: NodeJS.ProcessEnv) {
  const cli = path.join(HERE, '.build', 'src', 'cli.js');
  // Prints the process's peak RSS (getrusage maxrss, KiB) on exit: one line on stderr.
  const hook =
    'data:text/javascript,process.on("exit",()=>process.stderr.write("\\nmaxrss "+process.resourceUsage().maxRSS+"\\n"))';
  const started = performance.now();
  return new Promise<{ seconds: number; checked: number; ok: boolean; peakRssMb: number }>(
    (resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', hook, cli, 'verify-audit'],
        { env: { ...process.env, ...env }, maxBuffer: 16 * MIB },
        (error, stdout, stderr) => {
          const seconds = (performance.now() - started) / 1000;
          const rss = /maxrss (\d+)/.exec(stderr);
          if (error || !rss) return reject(new Error(`verify-audit: ${error?.message} ${stderr}`));
          const result = JSON.parse(stdout) as { ok: boolean; checked: number };
          resolve({
            seconds,
            checked: result.checked,
            ok: result.ok,
            peakRssMb: Math.round(Number(rss[1]) / 1024),
          });
        },
      );
    },
  );
}

/** Adds a measured point, and logs it at once: a run stopped early keeps what it measured. */
function record(series: Series, point: Point) {
  series.points.push(point);
  log(
    `  = ${series.row} @ ${fmtSize(point.size)} ${series.sizeUnit}: ${point.figure} ${series.unit}` +
      (point.p50 === undefined ? '' : `, p50 ${point.p50} ms`) +
      (point.peakRssMb === undefined ? '' : `, peak RSS ${point.peakRssMb} MB`) +
      (point.note ? ` (${point.note})` : ''),
  );
}

function classify(series: Series) {
  const sizes = series.points.map((p) => p.size);
  const compared = series.points.filter((p) => p.size >= (series.classifyFrom ?? 0));
  if (compared.length >= 2 && compared.every((p) => p.figure > 0)) {
    series.growth = classifyGrowth(
      compared.map((p) => p.size),
      compared.map((p) => perUnit(p.figure)),
    );
  }
  if (series.points.every((p) => (p.peakRssMb ?? 0) > 0)) {
    series.rssGrowth = classifyGrowth(
      sizes,
      series.points.map((p) => p.peakRssMb!),
    );
  }
}

const fmtSize = (n: number) =>
  n >= 1_000_000 ? `${n / 1_000_000} M` : n >= 1_000 ? `${n / 1_000} k` : String(n);

function markdown(series: Series[]): string {
  const lines = [
    '| row | size | figure | p50 ms | peak RSS MB | per-unit cost grows | RSS grows |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const s of series) {
    s.points.forEach((p, i) => {
      const last = i === s.points.length - 1;
      const label = (g?: Growth) =>
        g
          ? `**${g.label}** (×${g.costRatio.toFixed(2)} for ×${g.sizeRatio}, k ${g.exponent.toFixed(2)})`
          : '';
      lines.push(
        `| ${i === 0 ? s.row : ''} | ${fmtSize(p.size)} ${s.sizeUnit} | ${p.figure.toLocaleString('en')} ${s.unit}${p.note ? ` (${p.note})` : ''} | ${p.p50 ?? ''} | ${p.peakRssMb ?? ''} | ${last ? label(s.growth) : ''} | ${last ? label(s.rssGrowth) : ''} |`,
      );
    });
  }
  return lines.join('\n');
}

export async function scale(argv: readonly string[], h: Harness) {
  const opts = scaleFlags(argv);
  const startedAt = Date.now();
  const dir = process.env.DATABASE_URL ? undefined : mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  if (dir) log(`embedded PostgreSQL in ${dir}`);
  const embedded = dir ? await startEmbeddedPostgres({ dir: path.join(dir, 'pg') }) : undefined;
  const url = process.env.DATABASE_URL ?? embedded!.url;
  // Seeding 10 M events runs statements (the sealer's, the unsealed count) that a 30 s
  // statement_timeout cuts; the service under test keeps its own pool and its 30 s.
  const pool = createPool(url, { max: 4, applicationName: 'bench-seed', statementTimeoutMs: 0 });
  let service: ScaleServer | undefined;
  let bare: ScaleServer | undefined;
  const seeding: SeedStep[] = [];
  const series: Series[] = [];
  try {
    await migrate(pool);
    await createBareTables(pool);
    const { rows: exists } = await pool.query('SELECT 1 FROM clients LIMIT 1');
    if (exists.length > 0) throw new Error('the database already has clients: use an empty one');
    const masterKey = randomBytes(32);
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: url,
      MASTER_KEY: masterKey.toString('base64'),
      JWT_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'warn',
      ATTACHMENT_MAX_BYTES: String(Math.max(...opts.attachmentsMib) * MIB),
    };
    const ctx = seedContext(pool, masterKey);
    const staff = await seedStaff(ctx);
    const world: World = {
      ...staff,
      clientsByClinic: staff.clinicIds.map(() => []),
      recordClientsByClinic: staff.clinicIds.map(() => []),
      emails: new Map(),
      clients: 0,
    };
    const practitioners = staff.clinicIds.map((id) =>
      staff.staff.find((s) => s.role === 'practitioner' && s.clinicIds[0] === id)!,
    );
    const reception = staff.clinicIds.map((id) =>
      staff.staff.find((s) => s.role === 'reception' && s.clinicIds[0] === id)!,
    );

    // The journal row's clients: one per clinic per size, at indices far above the growing
    // set's (their emails and phones stay unique) and off the record clients' i % 10 = 5.
    const journalClients = new Map<number, string[]>();
    for (const [k, entries] of opts.entries.entries()) {
      const before = world.clientsByClinic.map((ids) => ids.length);
      const from = 30_000_000 + k * 30;
      await timed(seeding, `3 clients × ${entries} entries`, 3 * entries, () =>
        seedClients(ctx, world, from, from + 3, entries),
      );
      journalClients.set(
        entries,
        world.clientsByClinic.map((ids, c) => ids[before[c]!]!),
      );
    }

    const start = async (kind: 'service' | 'bare') => h.startServer(kind, h.script, env);
    const restart = async () => {
      await service?.stop();
      service = await start('service');
      return service;
    };
    const logins = async (port: number) => ({
      practitioners: await Promise.all(practitioners.map((s) => h.login(port, s.username))),
      reception: await Promise.all(reception.map((s) => h.login(port, s.username))),
      auditor: await h.login(port, 'auditor'),
    });
    const http = async (name: string, port: number, spec: ScaleSpec) => {
      log(`scenario: ${name}`);
      await h.cannon(port, spec, opts.connections, 1);
      const run = await h.cannon(port, spec, opts.connections, opts.duration);
      if (run.non2xx + run.errors + run.timeouts > 0) {
        throw new Error(
          `${name}: ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts`,
        );
      }
      if (run.requests > 0) return { ...run, note: undefined };
      // Not one answer within the run (autocannon drops those still in flight at its end):
      // how long one request takes alone says what the row costs instead.
      const started = performance.now();
      const alone = await fetch(`http://127.0.0.1:${port}${spec.path()}`, {
        method: spec.method,
        headers: { 'content-type': 'application/json', ...spec.headers?.() },
        ...(spec.body && { body: spec.body() }),
      });
      await alone.arrayBuffer();
      const ms = Math.round(performance.now() - started);
      return {
        ...run,
        note: `no answer within the ${opts.duration} s run; one request alone: ${alone.status} in ${ms} ms`,
      };
    };

    // Journal read: the first page (the default 50) of a client with 10, 100, 1 000 entries.
    // 10 entries is a page of 10; from 100 on every page holds 50 entries: the label compares
    // those, what the length of the journal behind the page costs.
    let svc = await restart();
    let tokens = await logins(svc.port);
    const journal: Series = {
      row: 'journal read, first page (50)',
      unit: 'req/s',
      sizeUnit: 'entries',
      points: [],
      classifyFrom: JOURNAL_PAGE,
    };
    for (const entries of opts.entries) {
      const ids = journalClients.get(entries)!;
      let clinic = 0;
      const run = await http(`journal read @ ${entries} entries`, svc.port, {
        method: 'GET',
        path: () => {
          clinic = Math.floor(Math.random() * ids.length);
          return `/v1/clients/${ids[clinic]}/journal`;
        },
        headers: () => bearer(tokens.practitioners[clinic]!),
      });
      record(journal, {
        size: entries,
        figure: run.reqPerSec,
        p50: run.p50,
        ...(run.note && { note: run.note }),
      });
    }
    series.push(journal);

    // Client search and list, the set growing 10 k → 100 k → 1 M (quick: 1 k → 100 k).
    const search: Series = {
      row: 'client search (email)',
      unit: 'req/s',
      sizeUnit: 'clients',
      points: [],
    };
    const list: Series = {
      row: 'client list, first 50',
      unit: 'req/s',
      sizeUnit: 'clients',
      points: [],
    };
    let seeded = 0;
    for (const size of opts.clients) {
      await timed(seeding, `clients ${fmtSize(seeded)} → ${fmtSize(size)}`, size - seeded, () =>
        bulkLoad(pool, () => seedClientsInLanes(ctx, world, seeded, size, opts.clientEntries)),
      );
      seeded = size;
      await pool.query('VACUUM ANALYZE clients, client_data_keys, consents, journal_entries');
      // A fresh process per size: a heap the previous sizes grew measures nothing of this one.
      svc = await restart();
      tokens = await logins(svc.port);
      const byClinic = world.clientsByClinic.map((ids, c) => [
        ...ids,
        ...world.recordClientsByClinic[c]!,
      ]);
      let clinic = 0;
      const s = await http(`client search @ ${size} clients`, svc.port, {
        method: 'POST',
        path: () => {
          clinic = Math.floor(Math.random() * byClinic.length);
          return '/v1/clients/search';
        },
        headers: () => bearer(tokens.reception[clinic]!),
        body: () => JSON.stringify({ email: world.emails.get(pick(byClinic[clinic]!)) }),
      });
      record(search, {
        size,
        figure: s.reqPerSec,
        p50: s.p50,
        ...(s.note && { note: s.note }),
      });
      const l = await http(`client list @ ${size} clients`, svc.port, {
        method: 'GET',
        path: () => {
          clinic = Math.floor(Math.random() * byClinic.length);
          return '/v1/clients?limit=50';
        },
        headers: () => bearer(tokens.reception[clinic]!),
      });
      record(list, { size, figure: l.reqPerSec, p50: l.p50, ...(l.note && { note: l.note }) });
    }
    series.push(search, list);

    // Audit export and verify, the log growing 1 M → 10 M events (quick: 100 k → 1 M).
    const exported: Series = {
      row: 'audit export (ndjson)',
      unit: 'rows/s',
      sizeUnit: 'events',
      points: [],
    };
    const verified: Series = {
      row: 'audit verify (GET ?full=true)',
      unit: 'rows/s',
      sizeUnit: 'events',
      points: [],
    };
    const cli: Series = {
      row: 'audit verify (CLI verify-audit)',
      unit: 'rows/s',
      sizeUnit: 'events',
      points: [],
    };
    for (const size of opts.events) {
      const { rows } = await pool.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM audit_events',
      );
      const have = Number(rows[0]!.n);
      if (size > have) {
        await timed(
          seeding,
          `events ${fmtSize(have)} → ${fmtSize(size)} (insert + seal)`,
          size - have,
          () =>
            bulkLoad(pool, () => seedAuditEvents(ctx, world, size - have, { orderedIds: true })),
        );
      }
      await pool.query('ANALYZE audit_events, audit_chain');
      svc = await restart();
      const auditor = await h.login(svc.port, 'auditor');
      log(`scenario: audit export @ ${size} events`);
      const e = await h.exportScenario(svc, url, auditor);
      if (e.status !== 200) throw new Error(`export: status ${e.status}`);
      record(exported, {
        size,
        figure: e.rowsPerSec,
        peakRssMb: e.peakRssMb,
        note: `${e.rows.toLocaleString('en')} rows in ${e.seconds.toFixed(1)} s; COPY ${e.copyRowsPerSec.toLocaleString('en')} rows/s`,
      });

      svc = await restart();
      log(`scenario: audit verify (endpoint, full) @ ${size} events`);
      await svc.ask({ type: 'reset-peak' }, 'peak-reset');
      const started = performance.now();
      // A verify that outlasts the service's idle-socket timeout (connectionTimeout, 120 s)
      // loses its connection before the answer: recorded as such, the CLI row still measured.
      const answered = await fetch(
        `http://127.0.0.1:${svc.port}/v1/audit-events/verify?full=true`,
        {
          headers: bearer(auditor),
        },
      ).then(
        async (response) => ({
          status: response.status,
          answer: (await response.json()) as { ok?: boolean; checked?: number },
        }),
        (error: unknown) => error as Error,
      );
      const seconds = (performance.now() - started) / 1000;
      const { rss } = await svc.ask<{ rss: number }>({ type: 'peak' }, 'peak');
      if (answered instanceof Error) {
        record(verified, {
          size,
          figure: 0,
          peakRssMb: Math.round(rss / MIB),
          note: `no answer: ${answered.message} after ${seconds.toFixed(1)} s`,
        });
      } else {
        const { status, answer } = answered;
        if (status !== 200 || answer.ok !== true) {
          throw new Error(`verify: ${status} ${JSON.stringify(answer)}`);
        }
        record(verified, {
          size,
          figure: Math.round(answer.checked! / seconds),
          peakRssMb: Math.round(rss / MIB),
          note: `${answer.checked!.toLocaleString('en')} links in ${seconds.toFixed(1)} s`,
        });
      }

      log(`scenario: audit verify (CLI) @ ${size} events`);
      const v = await verifyCli(env);
      if (!v.ok) throw new Error('verify-audit: the chain does not verify');
      record(cli, {
        size,
        figure: Math.round(v.checked / v.seconds),
        peakRssMb: v.peakRssMb,
        note: `${v.checked.toLocaleString('en')} links in ${v.seconds.toFixed(1)} s, process start included`,
      });
    }
    series.push(exported, verified, cli);

    // Attachment download, 1 and 20 MiB, each on a fresh process (its RSS growth).
    bare = await start('bare');
    const download: Series = {
      row: 'attachment download',
      unit: 'MiB/s',
      sizeUnit: 'MiB',
      points: [],
    };
    for (const mib of opts.attachmentsMib) {
      svc = await restart();
      log(`scenario: attachment ${mib} MiB`);
      const a = await attachmentScenario({
        servicePort: svc.port,
        barePort: bare.port,
        token: await h.login(svc.port, practitioners[0]!.username),
        clientId: world.clientsByClinic[0]![0]!,
        mib,
        service: {
          resetPeak: async () =>
            (await svc.ask<{ rss: number }>({ type: 'reset-peak' }, 'peak-reset')).rss,
          peak: async () => (await svc.ask<{ rss: number }>({ type: 'peak' }, 'peak')).rss,
        },
      });
      if (!a.complete) throw new Error(`attachment ${mib} MiB: a download came back short`);
      record(download, {
        size: mib,
        figure: a.downloadMiBps,
        peakRssMb: a.peakRssMb,
        note: `RSS +${a.rssGrowthMb} MB; sealed chunks ${a.sealedMiBps} MiB/s`,
      });
    }
    series.push(download);

    series.forEach(classify);
    const table = series.flatMap((s) =>
      s.points.map((p, i) => ({
        row: s.row,
        size: `${fmtSize(p.size)} ${s.sizeUnit}`,
        figure: `${p.figure} ${s.unit}`,
        'p50 ms': p.p50 ?? '',
        'peak RSS MB': p.peakRssMb ?? '',
        growth:
          i === s.points.length - 1 && s.growth
            ? `${s.growth.label} (k ${s.growth.exponent.toFixed(2)})`
            : '',
        'RSS growth': i === s.points.length - 1 && s.rssGrowth ? s.rssGrowth.label : '',
        note: p.note ?? '',
      })),
    );
    console.log(
      `\nscale run (${opts.quick ? 'quick sizes' : 'full sizes'}): ${opts.connections} connections, ${opts.duration} s runs; ` +
        `${os.cpus().length} cores, Node ${process.version}`,
    );
    console.table(table);
    console.log('\nseeding:');
    console.table(
      seeding.map((s) => ({
        step: s.step,
        count: s.count,
        seconds: Number(s.seconds.toFixed(1)),
        'per second': Math.round(s.count / s.seconds),
        'node CPU s': Number(s.nodeCpuSeconds.toFixed(1)),
      })),
    );
    console.log(`\n${markdown(series)}\n`);
    const out = {
      at: new Date().toISOString(),
      options: opts,
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      seconds: Math.round((Date.now() - startedAt) / 1000),
      series,
      seeding,
    };
    mkdirSync(path.join(HERE, 'results'), { recursive: true });
    const file = path.join(HERE, 'results', opts.quick ? 'scale-quick.json' : 'scale.json');
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote ${path.relative(process.cwd(), file)} (${out.seconds} s in all)`);
  } finally {
    await service?.stop().catch(() => undefined);
    await bare?.stop().catch(() => undefined);
    await pool.end();
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
