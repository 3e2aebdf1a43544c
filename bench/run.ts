/**
 * `npm run bench`: seeds a realistic data set, starts the real service and a bare baseline
 * (bench/server.ts compiled by tsc and run by plain node, one child process each) on the
 * same database, drives both with
 * autocannon, alternating, and prints a table (also written to bench/results/latest.json).
 *
 *   npm run bench                      # 100 000 clients, 1 000 000 audit events, 10 s runs
 *   npm run bench -- --quick           # 2 000 clients, 50 000 events, 3 s runs (about a minute)
 *   npm run bench -- --clients 20000 --events 200000 --duration 5 --connections 50 --pool 10
 *   npm run bench -- --profile         # also writes .cpuprofile files of the service
 *   npm run bench -- --only attachments   # only the 20 MiB attachment upload/download
 *   npm run bench -- --only attachments --attachment-mib 80   # the same with another size
 *   npm run bench -- --only keyed --rounds 3   # only the keyed journal write vs the unkeyed
 *   npm run bench -- --scale           # how cost grows with work (bench/scale.ts; --scale-quick)
 *   npm run bench:ab -- <old checkout> # paired A/B of one scenario against another checkout (bench/ab.ts)
 *
 * Without DATABASE_URL it starts an embedded PostgreSQL in a temporary directory (removed at
 * the end). With DATABASE_URL, use a SCRATCH database: the audit events it writes can never be
 * deleted (the table is append-only).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { abExport } from './ab-export.js';
import { chainCaughtUp, cpuSeconds } from './measure.js';
import { attachmentRows, attachmentScenario, type AttachmentResult } from './attachments.js';
import { isScale, scale } from './scale.js';
import { startAsUsersDo, type StartedService } from './started.js';
import {
  PASSWORD,
  TREATMENT,
  createBareTables,
  seedAuditEvents,
  seedClients,
  seedContext,
  seedStaff,
  type Staff,
  type World,
} from './seed.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

function flags(argv: string[]) {
  const quick = argv.includes('--quick');
  const value = (name: string, fallback: number) => {
    const at = argv.indexOf(`--${name}`);
    if (at < 0) return fallback;
    const parsed = Number(argv[at + 1]);
    if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`--${name} needs a number`);
    return parsed;
  };
  return {
    quick,
    clients: value('clients', quick ? 2_000 : 100_000),
    events: value('events', quick ? 50_000 : 1_000_000),
    duration: value('duration', quick ? 3 : 10),
    connections: value('connections', 50),
    entries: value('entries', 6),
    pool: value('pool', 10),
    stormConnections: value('storm-connections', 200),
    profile: argv.includes('--profile'),
    /** The attachment scenario's file size (MiB); the service's ATTACHMENT_MAX_BYTES follows. */
    attachmentMib: value('attachment-mib', 20),
    /** `--only keyed`: unkeyed and keyed runs alternate this many times. */
    rounds: value('rounds', 3),
    /** Runs one scenario alone (`--only attachments`, `--only keyed`). */
    only: only(argv),
    /** Samples what the service's connections wait on in PostgreSQL (diagnosis). */
    waits: argv.includes('--waits'),
    /** `--compiled-only`: leave out the `npm start` columns (tsx, LOG_LEVEL info). */
    npmStart: !argv.includes('--compiled-only'),
    waitsPool: undefined as pg.Pool | undefined,
  };
}
type Flags = ReturnType<typeof flags>;

const ONLY = ['attachments', 'keyed'] as const;
function only(argv: string[]): (typeof ONLY)[number] | undefined {
  const at = argv.indexOf('--only');
  if (at < 0) return undefined;
  const name = argv[at + 1];
  const known = ONLY.find((candidate) => candidate === name);
  if (!known) throw new Error(`--only takes one of: ${ONLY.join(', ')}`);
  return known;
}

/** The attachment scenario on the given (freshly started) service. */
async function runAttachments(
  service: Server,
  bare: Server,
  world: World,
  mib: number,
  token?: string,
) {
  log('scenario: attachment 20 MiB upload and download vs the sealed chunks streamed');
  const practitioner = world.staff.find((s) => s.role === 'practitioner')!;
  const clinic = world.clinicIds.indexOf(practitioner.clinicIds[0]!);
  return attachmentScenario({
    servicePort: service.port,
    barePort: bare.port,
    token: token ?? (await login(service.port, practitioner.username)),
    clientId: world.clientsByClinic[clinic]![0]!,
    mib,
    service: {
      resetPeak: async () =>
        (await service.ask<{ rss: number }>({ type: 'reset-peak' }, 'peak-reset')).rss,
      peak: async () => (await service.ask<{ rss: number }>({ type: 'peak' }, 'peak')).rss,
    },
  });
}

/**
 * The servers run as production runs the service (Dockerfile: `node dist/server.js`): compiled
 * by tsc, under plain node. Under tsx, the esbuild behind it would add ~40 MB to the service's
 * RSS. src and bench/server.ts are compiled to bench/.build (git-ignored, incremental), and the
 * migrations copied beside them, where the compiled src looks for them (as in the image).
 */
function compileServers(): string {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const out = path.join(HERE, '.build');
  log('compiling src and bench/server.ts with tsc into bench/.build');
  execFileSync(process.execPath, [tsc, '-p', path.join(HERE, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  rmSync(path.join(out, 'migrations'), { recursive: true, force: true });
  cpSync(path.join(HERE, '..', 'migrations'), path.join(out, 'migrations'), { recursive: true });
  return path.join(out, 'bench', 'server.js');
}

interface Server {
  child: ChildProcess;
  port: number;
  ask<T>(message: object, reply: string): Promise<T>;
  stop(): Promise<void>;
}

async function startServer(
  kind: 'service' | 'bare' | 'floor',
  script: string,
  env: NodeJS.ProcessEnv,
  opts: Flags,
): Promise<Server> {
  const profileDir = path.join(HERE, 'results', 'profiles');
  if (opts.profile && kind === 'service') mkdirSync(profileDir, { recursive: true });
  const child = fork(script, [kind], {
    env: { ...process.env, ...env, BENCH_POOL_MAX: String(opts.pool) },
    // Plain node, both of them: not the tsx loader this process runs under.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code}) before ready`)));
    child.on('message', (message: { type: string; port?: number }) => {
      if (message.type === 'ready') resolve(message.port!);
    });
  });
  const ask = <T>(message: object, reply: string) =>
    new Promise<T>((resolve) => {
      const listener = (answer: { type: string }) => {
        if (answer.type !== reply) return;
        child.off('message', listener);
        resolve(answer as T);
      };
      child.on('message', listener);
      child.send(message);
    });
  return {
    child,
    port,
    ask,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send({ type: 'stop' });
      }),
  };
}

/** The pool `chainCaughtUp` asks (bench/measure.ts); set once the database is up. */
let chainPool: pg.Pool | undefined;
async function waitForChain() {
  if (chainPool && !(await chainCaughtUp(chainPool))) {
    log('  the audit chain did not catch up within 120 s; measuring anyway');
  }
}

/** Runs `drive` and adds the server's CPU microseconds per request to its result. */
async function withCpu(server: Server | StartedService, drive: () => Promise<Run>): Promise<Run> {
  // `npm start` is a tree (npm, sh, tsx, node): its CPU is the sum of all of them.
  const pids = 'pids' in server ? server.pids() : [server.child.pid];
  const cpu = () =>
    pids.reduce<number | undefined>((sum, pid) => {
      const seconds = cpuSeconds(pid);
      return sum === undefined || seconds === undefined ? undefined : sum + seconds;
    }, 0);
  await waitForChain();
  const before = cpu();
  const run = await drive();
  const after = cpu();
  if (before !== undefined && after !== undefined && run.requests > 0) {
    run.cpuUsPerReq = Math.round(((after - before) * 1e6) / run.requests);
  }
  return run;
}

interface Run {
  /** The server process's CPU time per request (µs), where /proc tells it. */
  cpuUsPerReq?: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

interface RequestSpec {
  method: 'GET' | 'POST';
  path: () => string;
  headers?: () => Record<string, string>;
  body?: () => string;
}

async function cannon(
  port: number,
  spec: RequestSpec,
  connections: number,
  duration: number,
): Promise<Run> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration,
    timeout: 10,
    requests: [
      {
        method: spec.method,
        setupRequest: (request) => ({
          ...request,
          path: spec.path(),
          headers: {
            ...(spec.body ? { 'content-type': 'application/json' } : {}),
            ...spec.headers?.(),
          },
          ...(spec.body ? { body: spec.body() } : {}),
        }),
      },
    ],
  });
  return {
    reqPerSec: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count]),
    ),
  };
}

/** Every 50 ms, what the service's connections are doing, counted (pg_stat_activity). */
function sampleWaits(pool: pg.Pool) {
  const counts = new Map<string, number>();
  let samples = 0;
  const timer = setInterval(() => {
    pool
      .query<{ what: string }>(
        `SELECT coalesce(wait_event_type || ':' || wait_event, 'cpu') || ' ' || state || ' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS what
           FROM pg_stat_activity WHERE application_name = 'clinic-journal-api'`,
      )
      .then(({ rows }) => {
        samples += 1;
        for (const { what } of rows) counts.set(what, (counts.get(what) ?? 0) + 1);
      })
      .catch(() => undefined);
  }, 50);
  return {
    async stop() {
      clearInterval(timer);
      return [...counts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([what, n]) => `    ${(n / Math.max(1, samples)).toFixed(2)} ${what}`)
        .join('\n');
    },
  };
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

async function login(port: number, username: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  if (response.status !== 200) throw new Error(`login ${username}: ${response.status}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
}

interface Tokens {
  practitioners: { token: string; clinic: number }[];
  reception: { token: string; clinic: number }[];
  auditor: string;
}

/** Real logins (production argon2 parameters) of the seeded staff; tokens last 15 minutes. */
async function loginAll(port: number, world: World): Promise<Tokens> {
  const of = async (role: Staff['role']) =>
    Promise.all(
      world.staff
        .filter((s) => s.role === role)
        .map(async (s) => ({
          token: await login(port, s.username),
          clinic: world.clinicIds.indexOf(s.clinicIds[0]!),
        })),
    );
  return {
    practitioners: await of('practitioner'),
    reception: await of('reception'),
    auditor: await login(port, 'auditor'),
  };
}

function scenarios(world: World, tokens: Tokens, searchClients: number) {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const clientOf = (clinic: number) => pick(world.clientsByClinic[clinic]!);
  let practitioner = tokens.practitioners[0]!;
  let receptionist = tokens.reception[0]!;
  const performedAt = new Date(Date.now() - 3_600_000).toISOString();
  const searchable = world.clientsByClinic.map((ids) =>
    ids.slice(0, Math.ceil(searchClients / world.clinicIds.length)),
  );
  const journalWrite = {
    method: 'POST',
    path: () => {
      practitioner = pick(tokens.practitioners);
      return `/v1/clients/${clientOf(practitioner.clinic)}/journal`;
    },
    headers: () => bearer(practitioner.token),
    body: () =>
      JSON.stringify({
        treatmentType: TREATMENT,
        performedAt,
        notes: 'Opfølgning: 20 E i glabella, ingen komplikationer, kontrol om 14 dage.',
        treatedAreas: ['glabella'],
        products: [{ name: 'Botox 100 E', batchNumber: 'C3412C1', quantity: 20, unit: 'E' }],
      }),
  } satisfies RequestSpec & { headers: () => Record<string, string> };
  return {
    journalRead: {
      method: 'GET',
      path: () => {
        practitioner = pick(tokens.practitioners);
        return `/v1/clients/${clientOf(practitioner.clinic)}/journal`;
      },
      headers: () => bearer(practitioner.token),
    },
    // The same read of a client whose entries carry a responsible practitioner, their
    // countersignature and a statement (bench/seed.ts): the Danish record's extras.
    journalReadRecord: {
      method: 'GET',
      path: () => {
        practitioner = pick(tokens.practitioners);
        return `/v1/clients/${pick(world.recordClientsByClinic[practitioner.clinic]!)}/journal`;
      },
      headers: () => bearer(practitioner.token),
    },
    journalWrite,
    /** The same write with a fresh Idempotency-Key each (issue #17: what retry-safety costs). */
    journalWriteKeyed: {
      ...journalWrite,
      headers: () => ({ ...journalWrite.headers(), 'idempotency-key': randomUUID() }),
    },
    search: {
      method: 'POST',
      path: () => {
        receptionist = pick(tokens.reception);
        return '/v1/clients/search';
      },
      headers: () => bearer(receptionist.token),
      body: () =>
        JSON.stringify({ email: world.emails.get(pick(searchable[receptionist.clinic]!)) }),
    },
    clientList: {
      method: 'GET',
      path: () => {
        receptionist = pick(tokens.reception);
        return '/v1/clients?limit=50';
      },
      headers: () => bearer(receptionist.token),
    },
  } satisfies Record<string, RequestSpec>;
}

interface Row {
  scenario: string;
  service: Run;
  baseline?: Run;
  /** The floor baseline (bench/floor.ts), for the routes it serves. */
  floor?: Run;
  /** The service as `npm start` starts it (bench/started.ts), for #20's three scenarios. */
  started?: Run;
  ratio?: number;
  target?: string;
  met?: boolean;
  note?: string;
}

/**
 * The floor server (bench/floor.ts), once started: it serves the journal read and write, the
 * client search and the client list, with the service's requests (tokens included).
 */
let floorServer: Server | undefined;
/** `npm start` (bench/started.ts): measured on the scenarios #20 sets bare-ratio targets for. */
let startedServer: StartedService | undefined;
const FLOOR_ROUTES = [
  /^GET \/v1\/clients\/[^/]+\/journal$/,
  /^POST \/v1\/clients\/[^/]+\/journal$/,
  /^POST \/v1\/clients\/search$/,
  /^GET \/v1\/clients\?limit=\d+$/,
];
function floorServes(spec: RequestSpec): boolean {
  return FLOOR_ROUTES.some((route) => route.test(`${spec.method} ${spec.path()}`));
}

/**
 * Bare first, then the floor (where it serves the route), then the service, same connections
 * and duration; a 1 s warm-up for each.
 */
async function compare(
  name: string,
  service: Server,
  bare: Server,
  specService: RequestSpec,
  specBare: RequestSpec,
  opts: Flags,
): Promise<Row> {
  log(`scenario: ${name}`);
  await cannon(bare.port, specBare, opts.connections, 1);
  const baseline = await withCpu(bare, () =>
    cannon(bare.port, specBare, opts.connections, opts.duration),
  );
  let floorRun: Run | undefined;
  if (floorServer && floorServes(specService)) {
    const server = floorServer;
    await cannon(server.port, specService, opts.connections, 1);
    floorRun = await withCpu(server, () =>
      cannon(server.port, specService, opts.connections, opts.duration),
    );
  }
  await cannon(service.port, specService, opts.connections, 1);
  const sampling = opts.waits ? sampleWaits(opts.waitsPool!) : undefined;
  if (opts.profile) await service.ask({ type: 'profile-start' }, 'profiling');
  const measured = await withCpu(service, () =>
    cannon(service.port, specService, opts.connections, opts.duration),
  );
  if (opts.profile) {
    const file = path.join(
      HERE,
      'results',
      'profiles',
      `${name.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`,
    );
    await service.ask({ type: 'profile-stop', file }, 'profiled');
    log(`  CPU profile: ${path.relative(process.cwd(), file)}`);
  }
  if (sampling) log(await sampling.stop());
  // A baseline that answered errors measured nothing: stop rather than print its figure.
  for (const [which, run] of [
    ['bare', baseline],
    ['floor', floorRun],
  ] as const) {
    if (run && run.non2xx + run.errors + run.timeouts > 0) {
      throw new Error(
        `${name}: the ${which} server answered ${JSON.stringify(run.statusCodes)}, ${run.errors} errors, ${run.timeouts} timeouts`,
      );
    }
  }
  let startedRun: Run | undefined;
  if (startedServer && BARE_TARGETS.some(([scenario]) => scenario.test(name))) {
    const server = startedServer;
    await cannon(server.port, specService, opts.connections, 1);
    startedRun = await withCpu(server, () =>
      cannon(server.port, specService, opts.connections, opts.duration),
    );
    const failed = startedRun.non2xx + startedRun.errors + startedRun.timeouts;
    if (failed > 0) {
      throw new Error(`${name}: npm start answered ${JSON.stringify(startedRun.statusCodes)}`);
    }
  }
  return {
    scenario: name,
    service: measured,
    baseline,
    floor: floorRun,
    started: startedRun,
    ratio: measured.reqPerSec / Math.max(1, baseline.reqPerSec),
  };
}

/**
 * Issue #20's targets: a share of bare for the journal read and write and the search, and for
 * every scenario with a floor, at least 0.80 of that floor.
 */
const BARE_TARGETS: readonly [RegExp, number][] = [
  [/^journal read$/, 0.45],
  [/^journal write$/, 0.45],
  [/^client search/, 0.4],
];
function roundTwoTarget(row: Pick<Row, 'scenario' | 'ratio' | 'floor' | 'service'>): string {
  const parts: string[] = [];
  const bare = BARE_TARGETS.find(([name]) => name.test(row.scenario))?.[1];
  if (bare !== undefined && row.ratio !== undefined)
    parts.push(`≥ ${bare} of bare ${row.ratio >= bare ? 'MET' : 'NOT MET'}`);
  if (row.floor) {
    const ofFloor = row.service.reqPerSec / Math.max(1, row.floor.reqPerSec);
    parts.push(`≥ 0.80 of floor ${ofFloor >= 0.8 ? 'MET' : 'NOT MET'}`);
  }
  return parts.join('; ');
}

/** "service (bare) = bare/service": the CPU cost ratio, steadier than req/s on a busy machine. */
function cpuColumn(row: Row): string {
  const service = row.service.cpuUsPerReq;
  const bare = row.baseline?.cpuUsPerReq;
  if (service === undefined || bare === undefined) return '';
  return `${service} (${bare}) = ${(bare / Math.max(1, service)).toFixed(2)}`;
}

function newlines(chunk: Uint8Array): number {
  let count = 0;
  for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) count += 1;
  return count;
}

const AUDIT_COLUMNS = `id, at, actor_id, actor_role, action, outcome, resource_type, resource_id,
  client_id, request_id, ip, user_agent, break_glass, reason, purpose_of_use`;

async function exportScenario(service: Server, url: string, auditor: string, opts: Flags) {
  log('scenario: audit export (ndjson) vs COPY TO STDOUT');
  const idle = await service.ask<{ rss: number }>({ type: 'reset-peak' }, 'peak-reset');
  if (opts.profile) await service.ask({ type: 'profile-start' }, 'profiling');
  let started = performance.now();
  const response = await fetch(
    `http://127.0.0.1:${service.port}/v1/audit-events/export?format=ndjson`,
    { headers: { authorization: `Bearer ${auditor}` } },
  );
  let rows = 0;
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    rows += newlines(chunk);
  }
  const exportSeconds = (performance.now() - started) / 1000;
  const { rss } = await service.ask<{ rss: number }>({ type: 'peak' }, 'peak');
  if (opts.profile) {
    const file = path.join(HERE, 'results', 'profiles', 'audit-export.cpuprofile');
    await service.ask({ type: 'profile-stop', file }, 'profiled');
    log(`  CPU profile: ${path.relative(process.cwd(), file)}`);
  }

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let copyRows = 0;
  started = performance.now();
  try {
    const stream = client.query(
      copyTo(`COPY (SELECT ${AUDIT_COLUMNS} FROM audit_events ORDER BY at, id) TO STDOUT`),
    );
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      copyRows += newlines(chunk);
    }
  } finally {
    await client.end();
  }
  const copySeconds = (performance.now() - started) / 1000;
  return {
    status: response.status,
    rows,
    bytes,
    seconds: exportSeconds,
    rowsPerSec: Math.round(rows / exportSeconds),
    peakRssMb: Math.round(rss / 1024 / 1024),
    idleRssMb: Math.round(idle.rss / 1024 / 1024),
    copyRows,
    copySeconds,
    copyRowsPerSec: Math.round(copyRows / copySeconds),
  };
}

const fmtMs = (ms: number) => `${ms}`;

/**
 * `--only keyed`: the journal write unkeyed, then keyed, alternating `rounds` times on the
 * service (a 1 s warm-up each); the CPU µs/req ratio is the steadier figure on a shared machine.
 */
async function keyedOnly(service: Server, s: ReturnType<typeof scenarios>, opts: Flags) {
  const runs: { round: number; unkeyed: Run; keyed: Run }[] = [];
  const measure = async (spec: RequestSpec, name: string) => {
    await cannon(service.port, spec, opts.connections, 1);
    if (opts.profile) await service.ask({ type: 'profile-start' }, 'profiling');
    const run = await withCpu(service, () =>
      cannon(service.port, spec, opts.connections, opts.duration),
    );
    if (opts.profile) {
      const file = path.join(HERE, 'results', 'profiles', `${name}.cpuprofile`);
      await service.ask({ type: 'profile-stop', file }, 'profiled');
      log(`  CPU profile: ${path.relative(process.cwd(), file)}`);
    }
    return run;
  };
  for (let round = 1; round <= opts.rounds; round++) {
    log(`round ${round}: journal write unkeyed, then keyed`);
    const unkeyed = await measure(s.journalWrite, 'journal-write');
    const keyed = await measure(s.journalWriteKeyed, 'journal-write-keyed');
    runs.push({ round, unkeyed, keyed });
  }
  const sum = (pick: (run: { unkeyed: Run; keyed: Run }) => number) =>
    runs.reduce((total, run) => total + pick(run), 0);
  console.log(`\nkeyed only; ${os.cpus().length} cores, Node ${process.version}`);
  console.table(
    runs.map(({ round, unkeyed, keyed }) => ({
      round,
      'unkeyed req/s': unkeyed.reqPerSec,
      'keyed req/s': keyed.reqPerSec,
      'req/s ratio': (keyed.reqPerSec / Math.max(1, unkeyed.reqPerSec)).toFixed(2),
      'unkeyed CPU µs/req': unkeyed.cpuUsPerReq,
      'keyed CPU µs/req': keyed.cpuUsPerReq,
      'CPU ratio (unkeyed/keyed)': (
        (unkeyed.cpuUsPerReq ?? 0) / Math.max(1, keyed.cpuUsPerReq ?? 0)
      ).toFixed(2),
      'keyed non-2xx': keyed.non2xx,
    })),
  );
  const cpu =
    sum((run) => run.unkeyed.cpuUsPerReq ?? 0) /
    Math.max(
      1,
      sum((run) => run.keyed.cpuUsPerReq ?? 0),
    );
  const rps =
    sum((run) => run.keyed.reqPerSec) /
    Math.max(
      1,
      sum((run) => run.unkeyed.reqPerSec),
    );
  console.log(`overall: keyed/unkeyed ${rps.toFixed(2)} by req/s, ${cpu.toFixed(2)} by CPU µs/req`);
}

async function main() {
  const opts = flags(process.argv.slice(2));
  const startedAt = Date.now();
  const script = compileServers();
  // `--scale` (bench/scale.ts): how cost grows with work, on this file's harness.
  if (isScale(process.argv)) {
    return scale(process.argv.slice(2), {
      script,
      startServer: (kind, file, env) => startServer(kind, file, env, opts),
      cannon,
      login,
      exportScenario: (service, url, auditor) => exportScenario(service, url, auditor, opts),
    });
  }
  const dir = process.env.DATABASE_URL ? undefined : mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  if (dir) log(`embedded PostgreSQL in ${dir}`);
  const embedded = dir ? await startEmbeddedPostgres({ dir: path.join(dir, 'pg') }) : undefined;
  const url = process.env.DATABASE_URL ?? embedded!.url;
  const pool = createPool(url, { max: 4, applicationName: 'bench-seed' });
  const servers: Server[] = [];
  let logDir: string | undefined;
  try {
    await migrate(pool);
    await createBareTables(pool);
    chainPool = pool;
    const { rows: exists } = await pool.query('SELECT 1 FROM clients LIMIT 1');
    if (exists.length > 0) throw new Error('the database already has clients: use an empty one');
    const masterKey = randomBytes(32);
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: url,
      MASTER_KEY: masterKey.toString('base64'),
      JWT_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'warn',
      ATTACHMENT_MAX_BYTES: String(Math.max(20, opts.attachmentMib) * 1024 * 1024),
    };
    const ctx = seedContext(pool, masterKey);
    if (opts.waits) opts.waitsPool = createPool(url, { max: 1, applicationName: 'bench-waits' });
    log('seeding: 3 clinics, 20 staff (argon2id m=19 MiB t=2 p=1, production parameters)');
    const staff = await seedStaff(ctx);
    const world: World = {
      ...staff,
      clientsByClinic: staff.clinicIds.map(() => []),
      recordClientsByClinic: staff.clinicIds.map(() => []),
      emails: new Map(),
      clients: 0,
    };
    const small = Math.min(opts.only ? 30 : 1_000, Math.floor(opts.clients / 2));
    await seedClients(ctx, world, 0, small, opts.entries);
    await pool.query('VACUUM ANALYZE');

    let service = await startServer('service', script, env, opts);
    servers.push(service);
    const bare = await startServer('bare', script, env, opts);
    servers.push(bare);
    floorServer = await startServer('floor', script, env, opts);
    servers.push(floorServer);
    log(`service on :${service.port}, bare baseline on :${bare.port}, pool max ${opts.pool}`);

    if (opts.only === 'attachments') {
      const attachments = await runAttachments(service, bare, world, opts.attachmentMib);
      console.log(`\nattachments only; ${os.cpus().length} cores, Node ${process.version}`);
      console.table(attachmentRows(attachments));
      mkdirSync(path.join(HERE, 'results'), { recursive: true });
      writeFileSync(
        path.join(HERE, 'results', 'attachments.json'),
        `${JSON.stringify({ at: new Date().toISOString(), attachments }, null, 2)}\n`,
      );
      log('wrote bench/results/attachments.json');
      return;
    }

    let tokens = await loginAll(service.port, world);
    if (opts.only === 'keyed') {
      await keyedOnly(service, scenarios(world, tokens, small), opts);
      return;
    }
    if (opts.npmStart) {
      logDir = dir ?? mkdtempSync(path.join(os.tmpdir(), 'bench-'));
      const logFile = path.join(logDir, 'npm-start.log');
      startedServer = await startAsUsersDo(env, logFile);
      log(`npm start on :${startedServer.port} (tsx, LOG_LEVEL info, logging to ${logFile})`);
    }
    const rows: Row[] = [];
    {
      const s = scenarios(world, tokens, small);
      const row = await compare(
        `client search @ ${small}`,
        service,
        bare,
        s.search,
        s.search,
        opts,
      );
      rows.push(row);
    }

    await seedClients(ctx, world, small, opts.clients, opts.entries);
    await seedAuditEvents(ctx, world, opts.events);
    await pool.query('VACUUM ANALYZE');

    tokens = await loginAll(service.port, world);
    const s = scenarios(world, tokens, opts.clients);
    if (process.env.AB_EXPORT) {
      // npm run bench:ab (bench/ab.ts) drives this set-up from outside, paired with another.
      const spec = s[(process.env.AB_SPEC ?? 'journalRead') as keyof typeof s];
      if (!spec) throw new Error(`AB_SPEC: no scenario ${process.env.AB_SPEC}`);
      await abExport(process.env.AB_EXPORT, url, service, bare, spec);
      return;
    }
    // Logged in before the login storm below (which throttles the machine's one address).
    const attachmentToken = await login(
      service.port,
      world.staff.find((staff) => staff.role === 'practitioner')!.username,
    );
    const read = await compare('journal read', service, bare, s.journalRead, s.journalRead, opts);
    rows.push(read);
    const record = await compare(
      'journal read (countersigned, statements)',
      service,
      bare,
      s.journalReadRecord,
      s.journalReadRecord,
      opts,
    );
    record.target = '≥ 0.90 × journal read ratio';
    record.met = (record.ratio ?? 0) >= 0.9 * (read.ratio ?? 0);
    record.note = `${((record.ratio ?? 0) / Math.max(0.0001, read.ratio ?? 0)).toFixed(2)} of the plain read's ratio`;
    rows.push(record);
    const write = await compare(
      'journal write',
      service,
      bare,
      s.journalWrite,
      s.journalWrite,
      opts,
    );
    rows.push(write);
    // Keyed against unkeyed, both on the service: the key's row in the write's statement.
    log('scenario: journal write, keyed (Idempotency-Key on every request)');
    await cannon(service.port, s.journalWriteKeyed, opts.connections, 1);
    const keyedRun = await withCpu(service, () =>
      cannon(service.port, s.journalWriteKeyed, opts.connections, opts.duration),
    );
    const keyedRatio = keyedRun.reqPerSec / Math.max(1, write.service.reqPerSec);
    rows.push({
      // The "bare" columns of this row hold the unkeyed write on the service, its baseline.
      scenario: 'journal write, keyed (vs unkeyed)',
      service: keyedRun,
      baseline: write.service,
      ratio: keyedRatio,
      target: '≥ 0.85 of unkeyed',
      met: keyedRatio >= 0.85,
      note: `keyed/unkeyed ${keyedRatio.toFixed(2)}`,
    });
    const search = await compare(
      `client search @ ${opts.clients}`,
      service,
      bare,
      s.search,
      s.search,
      opts,
    );
    const searchSmall = rows[0]!;
    search.target = `p50 ≤ 1.5 × p50 @ ${small}`;
    search.met = search.service.p50 <= 1.5 * Math.max(1, searchSmall.service.p50);
    search.note = `p50 ${search.service.p50} ms vs ${searchSmall.service.p50} ms @ ${small}`;
    rows.push(search);
    rows.push(await compare('client list (50)', service, bare, s.clientList, s.clientList, opts));

    // Reads with and without a login storm (200 connections of wrong passwords), on the warm
    // service. Every token is taken first: the storm trips this address's login throttle.
    log('scenario: journal read without, then during, a login storm');
    tokens = await loginAll(service.port, world);
    const s2 = scenarios(world, tokens, opts.clients);
    await cannon(service.port, s2.journalRead, opts.connections, 1);
    await waitForChain();
    const calm = await cannon(service.port, s2.journalRead, opts.connections, opts.duration);
    let n = 0;
    const storm: RequestSpec = {
      method: 'POST',
      path: () => '/v1/auth/login',
      body: () =>
        JSON.stringify({
          username: n++ % 2 === 0 ? `practitioner${1 + (n % 3)}-1` : `nobody${n}`,
          password: 'wrong-password-123',
        }),
    };
    const [stormy, logins] = await Promise.all([
      cannon(service.port, s2.journalRead, opts.connections, opts.duration),
      cannon(service.port, storm, opts.stormConnections, opts.duration),
    ]);

    // The export's peak RSS is measured on a freshly started service process (as after a
    // deploy), not on a heap that the runs above have grown; the auditor's token from before
    // still works (sessions live in the database), so this process hashes no password either.
    await service.stop();
    servers.splice(servers.indexOf(service), 1);
    service = await startServer('service', script, env, opts);
    servers.push(service);
    const exported = await exportScenario(service, url, tokens.auditor, opts);
    const exportRatio = exported.rowsPerSec / Math.max(1, exported.copyRowsPerSec);

    // The attachment scenario's RSS is measured on a fresh process too.
    await service.stop();
    servers.splice(servers.indexOf(service), 1);
    service = await startServer('service', script, env, opts);
    servers.push(service);
    const attachments: AttachmentResult = await runAttachments(
      service,
      bare,
      world,
      opts.attachmentMib,
      attachmentToken,
    );

    const loginCodes = logins.statusCodes;
    const excessOk =
      logins.timeouts === 0 &&
      logins.errors === 0 &&
      Object.keys(loginCodes).every((code) => ['401', '429', '503'].includes(code));

    const table = [
      ...rows.map((row) => ({
        scenario: row.scenario,
        'req/s': row.service.reqPerSec,
        'p50 ms': fmtMs(row.service.p50),
        'p99 ms': fmtMs(row.service.p99),
        'bare req/s': row.baseline?.reqPerSec ?? '',
        'bare p50/p99': row.baseline ? `${row.baseline.p50}/${row.baseline.p99}` : '',
        ratio: row.ratio === undefined ? '' : row.ratio.toFixed(2),
        'floor req/s': row.floor?.reqPerSec ?? '',
        'service/floor': row.floor
          ? (row.service.reqPerSec / Math.max(1, row.floor.reqPerSec)).toFixed(2)
          : '',
        'floor/bare':
          row.floor && row.baseline
            ? (row.floor.reqPerSec / Math.max(1, row.baseline.reqPerSec)).toFixed(2)
            : '',
        'CPU µs/req (bare)': cpuColumn(row),
        'npm start req/s': row.started?.reqPerSec ?? '',
        'npm start/bare':
          row.started && row.baseline
            ? (row.started.reqPerSec / Math.max(1, row.baseline.reqPerSec)).toFixed(2)
            : '',
        'npm start CPU µs/req': row.started?.cpuUsPerReq ?? '',
        'non2xx/err/timeout': `${row.service.non2xx}/${row.service.errors}/${row.service.timeouts}`,
        '#20 targets': roundTwoTarget(row),
        target: row.target ? `${row.target} ${row.met ? 'MET' : 'NOT MET'}` : '',
      })),
      {
        scenario: 'journal read, calm',
        'req/s': calm.reqPerSec,
        'p50 ms': fmtMs(calm.p50),
        'p99 ms': fmtMs(calm.p99),
        'bare req/s': '',
        'bare p50/p99': '',
        ratio: '',
        'non2xx/err/timeout': `${calm.non2xx}/${calm.errors}/${calm.timeouts}`,
        target: '',
      },
      {
        scenario: `journal read, ${opts.stormConnections}-conn login storm`,
        'req/s': stormy.reqPerSec,
        'p50 ms': fmtMs(stormy.p50),
        'p99 ms': fmtMs(stormy.p99),
        'bare req/s': '',
        'bare p50/p99': '',
        ratio: (stormy.p99 / Math.max(1, calm.p99)).toFixed(2) + ' (p99)',
        'non2xx/err/timeout': `${stormy.non2xx}/${stormy.errors}/${stormy.timeouts}`,
        target: `p99 ≤ 2 × calm ${stormy.p99 <= 2 * Math.max(1, calm.p99) ? 'MET' : 'NOT MET'}`,
      },
      {
        scenario: 'login storm (wrong passwords)',
        'req/s': logins.reqPerSec,
        'p50 ms': fmtMs(logins.p50),
        'p99 ms': fmtMs(logins.p99),
        'bare req/s': '',
        'bare p50/p99': '',
        ratio: '',
        'non2xx/err/timeout': `${logins.non2xx}/${logins.errors}/${logins.timeouts}`,
        target: `${JSON.stringify(loginCodes)} ${excessOk ? 'MET' : 'NOT MET'}`,
      },
      {
        scenario: 'audit export ndjson',
        'req/s': `${exported.rowsPerSec} rows/s`,
        'p50 ms': '',
        'p99 ms': '',
        'bare req/s': `${exported.copyRowsPerSec} rows/s (COPY)`,
        'bare p50/p99': '',
        ratio: exportRatio.toFixed(2),
        'non2xx/err/timeout': exported.status === 200 ? '0/0/0' : `status ${exported.status}`,
        target: `≥ 0.5 of COPY ${exportRatio >= 0.5 ? 'MET' : 'NOT MET'}; peak RSS ${exported.peakRssMb} MB (before: ${exported.idleRssMb}) < 150 ${exported.peakRssMb < 150 ? 'MET' : 'NOT MET'}`,
      },
      ...attachmentRows(attachments),
    ];
    const successNon2xx = [...rows.map((r) => r.service), calm, stormy].reduce(
      (sum, r) => sum + r.non2xx + r.errors + r.timeouts,
      0,
    );
    console.log(
      `\n${opts.quick ? 'quick run' : 'full run'}: ${opts.clients.toLocaleString('en')} clients × ${opts.entries} entries, ` +
        `${opts.events.toLocaleString('en')} seeded audit events; ${opts.connections} connections, ${opts.duration} s runs, ` +
        `pool max ${opts.pool}; ${os.cpus().length} cores, Node ${process.version}`,
    );
    console.table(table);
    console.log(
      `export: ${exported.rows.toLocaleString('en')} rows (${(exported.bytes / 1e6).toFixed(0)} MB) in ${exported.seconds.toFixed(1)} s; ` +
        `COPY: ${exported.copyRows.toLocaleString('en')} rows in ${exported.copySeconds.toFixed(1)} s`,
    );
    console.log(
      `non-2xx/errors/timeouts in scenarios that should succeed: ${successNon2xx} ${successNon2xx === 0 ? '(MET)' : '(NOT MET)'}`,
    );
    const { rows: version } = await pool.query<{ v: string }>(
      "SELECT current_setting('server_version') AS v",
    );
    const out = {
      at: new Date().toISOString(),
      options: { ...opts, waitsPool: undefined },
      machine: {
        cores: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        node: process.version,
        postgres: version[0]?.v,
      },
      seconds: Math.round((Date.now() - startedAt) / 1000),
      scenarios: rows,
      storm: { calm, stormy, logins, p99Ratio: stormy.p99 / Math.max(1, calm.p99), excessOk },
      export: { ...exported, ratio: exportRatio },
      attachments,
      table,
    };
    mkdirSync(path.join(HERE, 'results'), { recursive: true });
    writeFileSync(path.join(HERE, 'results', 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote bench/results/latest.json (${out.seconds} s in all)`);
  } finally {
    for (const server of servers) await server.stop().catch(() => undefined);
    await startedServer?.stop().catch(() => undefined);
    await pool.end();
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (logDir && logDir !== dir) rmSync(logDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
