/**
 * `npm run bench:ab -- <checkout A> [<checkout B>]`: a paired comparison of one scenario of
 * bench/run.ts (the journal read unless --scenario names another) between two checkouts (B defaults to this one), for questions like "did this change cost the
 * read more than 5 %?", which single `npm run bench` runs cannot answer on a shared VM (runs
 * taken one after another differ by ±25 % in req/s).
 *
 * Both checkouts' `bench/run.ts --quick --compiled-only` run at once, each in its own embedded
 * PostgreSQL, and stop after seeding (AB_EXPORT, bench/ab-export.ts). This process then runs
 * short autocannon bursts in turn: A's service, A's bare baseline, B's service, B's bare, the
 * order of A and B swapped every pair, so both meet the same machine minute and drift cancels
 * pair by pair. Each burst's CPU is read from /proc, from its start until the audit chain has
 * caught up (so the chain's batched work is counted).
 *
 *   npm run bench:ab -- /tmp/old-checkout
 *   npm run bench:ab -- /tmp/old /tmp/new --pairs 24 --seconds 3 --connections 10
 *   npm run bench:ab -- /tmp/old --scenario journalWrite   # another of run.ts's scenarios
 *   npm run bench:ab -- /tmp/old --profile   # also a CPU profile of each service
 *
 * Each checkout needs bench/ab-export.ts and its call in run.ts (copy both into an older one;
 * it needs its own `npm ci`). The tokens last 15 minutes, so keep --pairs × 4 × seconds well
 * under that. Results go to bench/results/ab.json; the figures after ± are standard errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import type { AbExport } from './ab-export.js';
import { chainCaughtUp, cpuSeconds } from './measure.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const USAGE =
  'usage: npm run bench:ab -- <checkout A> [<checkout B>] [--pairs N] [--seconds S] [--connections C] [--scenario name] [--profile]';
const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        pairs: { type: 'string', default: '20' },
        seconds: { type: 'string', default: '3' },
        connections: { type: 'string', default: '10' },
        scenario: { type: 'string', default: 'journalRead' },
        profile: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
const count = (name: 'pairs' | 'seconds' | 'connections') => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a whole number above 0\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
if (positionals.length < 1 || positionals.length > 2) {
  console.error(USAGE);
  process.exit(2);
}
const checkouts = {
  A: path.resolve(positionals[0]!),
  B: path.resolve(positionals[1] ?? path.join(HERE, '..')),
};
const pairs = count('pairs');
const seconds = count('seconds');
const connections = count('connections');
const profile = values.profile;
const scenario = values.scenario;

/** CPU seconds of a burst's process; the bench runs only on Linux (/proc). */
function cpu(pid: number): number {
  const used = cpuSeconds(pid);
  if (used === undefined) throw new Error(`no CPU time for pid ${pid} (/proc, Linux only)`);
  return used;
}

type Tag = keyof typeof checkouts;
interface Side extends AbExport {
  tag: Tag;
  file: string;
  pool: pg.Pool;
  child: ChildProcess;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'bench-ab-'));

async function start(tag: Tag): Promise<Side> {
  const file = path.join(work, `${tag}.json`);
  const log = path.join(work, `${tag}.log`);
  const out = openSync(log, 'w');
  const child = spawn('npx', ['tsx', 'bench/run.ts', '--quick', '--compiled-only'], {
    cwd: checkouts[tag],
    env: {
      ...process.env,
      AB_EXPORT: file,
      AB_SPEC: scenario,
    },
    stdio: ['ignore', out, out],
  });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  while (!existsSync(file)) {
    if (exited !== undefined) {
      throw new Error(
        `${tag} (${checkouts[tag]}) exited (${exited}) before exporting; see ${log} (does it have bench/ab-export.ts?)`,
      );
    }
    await sleep(200);
  }
  await sleep(100); // the file is written in one call; let it land
  const exported = JSON.parse(readFileSync(file, 'utf8')) as AbExport;
  return {
    ...exported,
    tag,
    file,
    child,
    pool: new pg.Pool({ connectionString: exported.url, max: 1 }),
  };
}

/** Until every audit event is in the chain (the batched chain work counts as the burst's). */
async function caughtUp(side: Side): Promise<void> {
  if (!(await chainCaughtUp(side.pool))) {
    throw new Error(`${side.tag}: the audit chain did not catch up within 120 s`);
  }
}

interface Burst {
  rps: number;
  us: number;
  n: number;
}

async function burst(side: Side, which: 'service' | 'bare', duration: number): Promise<Burst> {
  const target = side[which];
  let i = Math.floor(Math.random() * side.reqs.length);
  await caughtUp(side);
  const before = cpu(target.pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${target.port}`,
    connections,
    duration,
    timeout: 10,
    requests: [
      {
        setupRequest: (req) => {
          const next = side.reqs[i++ % side.reqs.length]!;
          return { ...req, ...next };
        },
      },
    ],
  });
  await caughtUp(side);
  const after = cpu(target.pid);
  if (result.non2xx || result.errors) {
    throw new Error(`${side.tag} ${which}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  }
  return {
    rps: result.requests.average,
    us: ((after - before) * 1e6) / result.requests.total,
    n: result.requests.total,
  };
}

async function signal(side: Side, what: 'prof-start' | 'prof-stop', ack: string): Promise<void> {
  writeFileSync(`${side.file}.${what}`, '');
  while (!existsSync(`${side.file}.${ack}`)) await sleep(50);
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const se = (a: number[]) => {
  const m = mean(a);
  return Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / (a.length - 1) / a.length);
};

async function main(): Promise<void> {
  console.log(`A = ${checkouts.A}\nB = ${checkouts.B}\nseeding both (logs in ${work})`);
  const started = await Promise.allSettled([start('A'), start('B')]);
  const sides = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const [a, b] = sides as [Side, Side];
    for (const side of sides) for (const w of ['service', 'bare'] as const) await burst(side, w, 3); // warm-up
    if (profile) for (const side of sides) await signal(side, 'prof-start', 'prof-started');
    type Row = Record<`${Tag}.${'service' | 'bare'}`, Burst>;
    const rows: Row[] = [];
    for (let p = 0; p < pairs; p++) {
      const row = {} as Row;
      for (const side of p % 2 ? [b, a] : [a, b]) {
        for (const w of ['service', 'bare'] as const)
          row[`${side.tag}.${w}`] = await burst(side, w, seconds);
      }
      rows.push(row);
      const f = (x: Burst) => `${Math.round(x.us)} µs ${Math.round(x.rps)} req/s`;
      console.log(
        `pair ${p + 1}/${pairs}: A ${f(row['A.service'])} (bare ${f(row['A.bare'])}) | B ${f(row['B.service'])} (bare ${f(row['B.bare'])})`,
      );
    }
    if (profile) {
      for (const side of sides) await signal(side, 'prof-stop', 'prof-stopped');
      const dest = path.join(HERE, 'results', 'profiles');
      mkdirSync(dest, { recursive: true });
      for (const side of sides) {
        const requests = rows.reduce((n, r) => n + r[`${side.tag}.service`].n, 0);
        const to = path.join(dest, `ab-${side.tag}-${requests}req.cpuprofile`);
        writeFileSync(to, readFileSync(`${side.file}.cpuprofile`));
        console.log(`profile of ${side.tag}: ${to} (${requests} requests)`);
      }
    }
    const stats: Record<string, { mean: number; se: number }> = {};
    const stat = (name: string, f: (r: Row) => number) => {
      const values = rows.map(f);
      stats[name] = { mean: mean(values), se: se(values) };
    };
    stat('A: CPU µs per request', (r) => r['A.service'].us);
    stat('B: CPU µs per request', (r) => r['B.service'].us);
    stat('A: CPU × bare', (r) => r['A.service'].us / r['A.bare'].us);
    stat('B: CPU × bare', (r) => r['B.service'].us / r['B.bare'].us);
    stat('B/A CPU per request (paired)', (r) => r['B.service'].us / r['A.service'].us);
    stat('B/A bare CPU (paired)', (r) => r['B.bare'].us / r['A.bare'].us);
    stat('A: req/s ratio to bare', (r) => r['A.service'].rps / r['A.bare'].rps);
    stat('B: req/s ratio to bare', (r) => r['B.service'].rps / r['B.bare'].rps);
    stat(
      'B/A req/s ratio (paired)',
      (r) => r['B.service'].rps / r['B.bare'].rps / (r['A.service'].rps / r['A.bare'].rps),
    );
    console.table(
      Object.fromEntries(
        Object.entries(stats).map(([k, v]) => [
          k,
          { mean: +v.mean.toFixed(3), '± se': +v.se.toFixed(3) },
        ]),
      ),
    );
    mkdirSync(path.join(HERE, 'results'), { recursive: true });
    const out = {
      at: new Date().toISOString(),
      checkouts,
      pairs,
      seconds,
      connections,
      stats,
      rows,
    };
    writeFileSync(path.join(HERE, 'results', 'ab.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log('wrote bench/results/ab.json');
  } finally {
    for (const side of sides) {
      writeFileSync(`${side.file}.done`, '');
      await side.pool.end();
    }
    await Promise.all(
      sides.map(
        (side) =>
          new Promise((resolve) =>
            side.child.exitCode !== null ? resolve(null) : side.child.once('exit', resolve),
          ),
      ),
    );
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
