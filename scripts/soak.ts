/**
 * `npm run soak`: the long versions of the resilience suite (test/resilience/), one file at a
 * time, then a summary table. Each count can be overridden from the environment:
 *
 *   FUZZ_RUNS (10000 per route), FAULT_ROUNDS (50 kills + 50 database cuts),
 *   KEYED_FAULT_ROUNDS (10 kills + 10 connection cuts under keyed writes),
 *   LOAD_SECONDS (60, at LOAD_CONNECTIONS 100), TWO_PROCESS_REQUESTS (5000)
 *
 * e.g. `FUZZ_RUNS=500 FAULT_ROUNDS=10 LOAD_SECONDS=30 npm run soak` for a shorter run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const defaults: Record<string, string> = {
  FUZZ_RUNS: '10000',
  FAULT_ROUNDS: '50',
  KEYED_FAULT_ROUNDS: '10',
  LOAD_SECONDS: '60',
  TWO_PROCESS_REQUESTS: '5000',
};
const env: Record<string, string | undefined> = { ...process.env };
for (const [name, value] of Object.entries(defaults)) env[name] ??= value;
const summaryFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'soak-')), 'summary.ndjson');
env.SOAK_SUMMARY_FILE = summaryFile;

const started = Date.now();
const code = await new Promise<number>((resolve) => {
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      path.join(root, 'test/helpers/run-tests.ts'),
      '--jobs=1',
      '--timeout=0',
      ...process.argv.slice(2),
      // The test files only: a directory argument would make tap run the helpers too.
      ...readdirSync(path.join(root, 'test/resilience'))
        .filter((name) => name.endsWith('.test.ts'))
        .map((name) => `test/resilience/${name}`),
    ],
    { cwd: root, env, stdio: 'inherit' },
  );
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});

type Row = Record<string, string | number>;
const rows: Row[] = existsSync(summaryFile)
  ? readFileSync(summaryFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Row)
  : [];

const cell = (row: Row | undefined, ...keys: string[]) => {
  for (const key of keys) if (row?.[key] !== undefined) return String(row[key]);
  return '–';
};
const columns = [
  'suite',
  'requests',
  'faults injected',
  'writes acked',
  'writes lost',
  '5xx',
  'timeouts',
  'canary hits',
];
const table = rows.map((row) => [
  String(row.suite),
  cell(row, 'requests'),
  cell(row, 'faults injected'),
  cell(row, 'writes acknowledged'),
  cell(row, 'writes lost'),
  cell(row, '5xx', '5xx other', 'non2xx'),
  cell(row, 'timeouts'),
  cell(row, 'hits'),
]);
const widths = columns.map((name, i) => Math.max(name.length, ...table.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(
  [
    '',
    `soak: ${Object.keys(defaults)
      .map((name) => `${name}=${env[name] ?? ''}`)
      .join(' ')}, ${Math.round((Date.now() - started) / 1000)} s, tap exit ${code}`,
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.map(line),
    '',
    'details:',
    ...rows.map((row) => `  ${JSON.stringify(row)}`),
    '',
  ].join('\n'),
);
process.exit(code);
