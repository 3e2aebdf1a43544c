/**
 * What a CPU profile of the service spends its time on (issue #20: "what share goes to crypto,
 * database round trips, serialization, logging and the framework").
 *
 *   npm run bench -- --profile                         # writes bench/results/profiles/*.cpuprofile
 *   npx tsx bench/profile-shares.ts bench/results/profiles/*.cpuprofile
 *
 * Every sample is put in one category by its whole stack, not its leaf: a socket write made by
 * the pg driver is a database round trip, the same write made by a reply is the framework's
 * answer. The categories are tried in the order of CATEGORIES below and the first whose test
 * matches any frame of the stack wins (the audit recorder's inserts are the audit guarantee, not
 * "database"; sealing inside the audit module is audit too). Idle and "(program)" samples, the
 * profiler's own work and the bench harness (bench/server.ts samples RSS in the same process) are
 * left out of the denominator: the figures are shares of the CPU time the service was busy.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Frame = { functionName: string; url: string };
type Node = { id: number; callFrame: Frame; children?: number[] };
export type CpuProfile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

type Category = { name: string; pays: string; test: (frame: Frame) => boolean };

const inPackage = (frame: Frame, ...names: string[]) =>
  names.some((name) => frame.url.includes(`/node_modules/${name}/`));
const inSource = (frame: Frame, dir: string) =>
  /\/(src|\.build\/src)\//.test(frame.url) && frame.url.includes(dir);

export const CATEGORIES: readonly Category[] = [
  {
    name: 'garbage collection',
    pays: 'allocation',
    test: (f) => f.functionName === '(garbage collector)',
  },
  {
    name: 'logging',
    pays: 'one request line (ids only, redacted)',
    test: (f) => inPackage(f, 'pino', 'sonic-boom', 'fast-redact', 'pino-std-serializers'),
  },
  {
    name: 'audit event',
    pays: 'the access log, durable before the answer (build, batch, seal, insert)',
    test: (f) => inSource(f, '/modules/audit/'),
  },
  {
    name: 'crypto',
    pays: 'sealed fields opened/sealed (AES-256-GCM), blind indexes (HMAC)',
    test: (f) =>
      inSource(f, '/crypto/') ||
      f.url.startsWith('node:internal/crypto') ||
      f.url === 'node:crypto',
  },
  {
    name: 'token and session',
    pays: 'JWT verified, session read fresh (revocation on the next request)',
    test: (f) =>
      inPackage(f, 'fast-jwt', '@fastify/jwt') ||
      inSource(f, '/modules/auth/auth.hook') ||
      inSource(f, '/modules/auth/session'),
  },
  {
    name: 'database round trips',
    pays: 'query building, the wire protocol, parsing rows, the socket writes and reads',
    test: (f) =>
      inPackage(f, 'pg', 'pg-protocol', 'pg-pool', 'drizzle-orm', 'pg-types', 'postgres-array'),
  },
  {
    name: 'validation',
    pays: 'zod on input and on every response (allow-list)',
    test: (f) => inPackage(f, 'zod', 'fastify-type-provider-zod'),
  },
  {
    name: 'serialization',
    pays: 'JSON in and out',
    test: (f) =>
      inPackage(f, 'fast-json-stringify', 'secure-json-parse') ||
      f.functionName === 'stringify' ||
      f.functionName === 'parse',
  },
  {
    name: 'framework and HTTP',
    pays: 'routing, hooks, helmet, headers, the response write',
    test: (f) =>
      inPackage(
        f,
        'fastify',
        'find-my-way',
        'avvio',
        '@fastify/helmet',
        'helmet',
        'light-my-request',
      ) ||
      f.url.startsWith('node:_http') ||
      f.url === 'node:net' ||
      f.url.startsWith('node:internal/stream_base_commons'),
  },
  {
    name: 'service code',
    pays: 'routes, services, rules, presenting',
    test: (f) => /\/(src|\.build\/src)\//.test(f.url),
  },
];

const NOT_BUSY = new Set(['(idle)', '(program)']);
/** The profiler's own work and the bench harness in the service's process (RSS sampling). */
const MEASURING = (frame: Frame) =>
  frame.url === 'node:inspector' || /\/bench\/(\.build\/bench\/)?server\.[jt]s$/.test(frame.url);

/** Busy samples per category (and "other"), as fractions of the busy total. */
export function shares(profile: CpuProfile): { busyMs: number; shares: Map<string, number> } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const categoryOf = new Map<number, string | null>();
  const classify = (leaf: number): string | null => {
    const known = categoryOf.get(leaf);
    if (known !== undefined) return known;
    const stack: Frame[] = [];
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      stack.push(byId.get(id)!.callFrame);
    }
    let found: string | null = 'other';
    if (NOT_BUSY.has(stack[0]!.functionName) || stack.some(MEASURING)) found = null;
    else
      for (const category of CATEGORIES) {
        if (stack.some(category.test)) {
          found = category.name;
          break;
        }
      }
    categoryOf.set(leaf, found);
    return found;
  };
  const time = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((sample, index) => {
    const category = classify(sample);
    if (category === null) return;
    const delta = profile.timeDeltas[index] ?? 0;
    busy += delta;
    time.set(category, (time.get(category) ?? 0) + delta);
  });
  const result = new Map<string, number>();
  for (const [name, micros] of time) result.set(name, busy === 0 ? 0 : micros / busy);
  return { busyMs: busy / 1000, shares: result };
}

function main(files: string[]) {
  if (files.length === 0)
    throw new Error('usage: tsx bench/profile-shares.ts <file.cpuprofile>...');
  const names = [...CATEGORIES.map((c) => c.name), 'other'];
  const rows = files.map((file) => {
    const result = shares(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    return { name: path.basename(file, '.cpuprofile'), ...result };
  });
  const header = ['share of busy CPU', ...rows.map((row) => row.name)];
  const lines = names.map((name) => [
    name,
    ...rows.map((row) => `${((row.shares.get(name) ?? 0) * 100).toFixed(1)} %`),
  ]);
  lines.push(['busy CPU in the profile', ...rows.map((row) => `${row.busyMs.toFixed(0)} ms`)]);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const line of lines) console.log(`| ${line.join(' | ')} |`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
