/**
 * Coverage for `npm test` (test/helpers/run-tests.ts). tap 21 records V8 coverage in every
 * test process and, through @tapjs/processinfo, in every node process a test spawns (the
 * service and the CLI, run under tsx). The two transpile src/*.ts differently (tap's
 * ts-node, tsx's esbuild), c8 merges the raw V8 ranges of one file from all processes before
 * mapping them back, and esbuild's output maps to a single line: with the spawned processes
 * in, the whole suite read 240 statements instead of ~9 700. So the tests run without a
 * coverage verdict, the spawned processes' coverage is removed, and `tap report` prints the
 * summary of what the test processes ran and applies the floor from package.json ("tap":
 * statements, branches, functions, lines). The entry points that only ever run in a spawned
 * process (src/server.ts, src/cli.ts, src/cli/*.ts) are therefore not in the figures.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface TapInvocations {
  /** `tap …`: the tests; coverage recorded, neither printed nor judged. */
  run: string[];
  /** `tap report …` after dropChildProcessCoverage, or none without coverage. */
  report: string[] | undefined;
  /** A few files, not the whole suite: the floor is not enforced. */
  subset: boolean;
}

const ZERO_FLOORS = ['--statements=0', '--branches=0', '--functions=0', '--lines=0'];

/**
 * tap's arguments for `npm test -- <args>`. The floor is for the whole suite: a run of a few
 * files (`npm test -- test/http.test.ts`) covers less by design, so there the summary is
 * still printed but a shortfall does not fail the run.
 */
export function tapInvocations(args: string[]): TapInvocations {
  const subset = args.some(
    (arg) => !arg.startsWith('-') && (existsSync(arg) || /[*?{[]/.test(arg)),
  );
  const coverage = !args.includes('--disable-coverage');
  return {
    // Floors of 0 and no report: this run's figures include the spawned processes' coverage,
    // so it must neither print them nor judge them (not even as "# ERROR: …" comments).
    run: [...args, '--coverage-report=none', ...ZERO_FLOORS, '--allow-empty-coverage'],
    report: coverage
      ? ['report', 'text-summary', ...(subset ? [...ZERO_FLOORS, '--allow-empty-coverage'] : [])]
      : undefined,
    subset,
  };
}

/**
 * Removes the coverage of every process a test spawned (processinfo names its parent),
 * keeping the test processes'. Returns how many of each there were.
 */
export function dropChildProcessCoverage(projectRoot: string): {
  testProcesses: number;
  childProcesses: number;
} {
  const coverageDir = path.join(projectRoot, '.tap', 'coverage');
  const infoDir = path.join(projectRoot, '.tap', 'processinfo');
  const counts = { testProcesses: 0, childProcesses: 0 };
  if (!existsSync(coverageDir)) return counts;
  for (const name of readdirSync(coverageDir).filter((file) => file.endsWith('.json'))) {
    const info = path.join(infoDir, name);
    const parent = existsSync(info)
      ? (JSON.parse(readFileSync(info, 'utf8')) as { parent?: string | null }).parent
      : undefined;
    if (parent) {
      rmSync(path.join(coverageDir, name));
      counts.childProcesses += 1;
    } else {
      counts.testProcesses += 1;
    }
  }
  return counts;
}
